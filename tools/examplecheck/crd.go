package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"

	"gopkg.in/yaml.v3"
)

// traefikCRD returns the path of Traefik's CRD definitions in its Go module (fetched into the module cache,
// where building Traefik for the e2e suite puts it anyway).
func traefikCRD(version string) (string, error) {
	out, err := exec.Command("go", "mod", "download", "-json", "github.com/traefik/traefik/v3@"+version).Output()
	if err != nil {
		return "", fmt.Errorf("go mod download github.com/traefik/traefik/v3@%s: %v", version, err)
	}
	var mod struct{ Dir string }
	if err := json.Unmarshal(out, &mod); err != nil || mod.Dir == "" {
		return "", fmt.Errorf("go mod download printed no module directory: %s", out)
	}
	return filepath.Join(mod.Dir, "docs", "content", "reference", "dynamic-configuration", "kubernetes-crd-definition-v1.yml"), nil
}

// loadCRDSchemas reads CustomResourceDefinitions and returns each version's openAPIV3Schema under
// "<group>/<version> <Kind>".
func loadCRDSchemas(file string) (map[string]map[string]any, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]map[string]any{}
	dec := yaml.NewDecoder(f)
	for {
		var crd struct {
			Kind string
			Spec struct {
				Group string
				Names struct{ Kind string }
				// Versions' schemas, as plain maps.
				Versions []struct {
					Name   string
					Schema struct {
						OpenAPIV3Schema map[string]any `yaml:"openAPIV3Schema"`
					}
				}
			}
		}
		err := dec.Decode(&crd)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %v", file, err)
		}
		if crd.Kind != "CustomResourceDefinition" {
			continue
		}
		for _, v := range crd.Spec.Versions {
			out[crd.Spec.Group+"/"+v.Name+" "+crd.Spec.Names.Kind] = v.Schema.OpenAPIV3Schema
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s holds no CustomResourceDefinition", file)
	}
	return out, nil
}

// validate checks v against a Kubernetes structural schema: types, properties (a field the schema does
// not know is an error here, where the API server would silently prune it), additionalProperties, items,
// required, enum, x-kubernetes-preserve-unknown-fields and x-kubernetes-int-or-string.
func validate(schema map[string]any, v any, at string) []string {
	if b, _ := schema["x-kubernetes-int-or-string"].(bool); b {
		switch v.(type) {
		case string, int, int64, float64:
			return nil
		}
		return []string{at + ": want an integer or a string"}
	}
	var problems []string
	if enum, ok := schema["enum"].([]any); ok && !containsValue(enum, v) {
		problems = append(problems, fmt.Sprintf("%s: %v is not one of %v", at, v, enum))
	}
	switch schema["type"] {
	case "object":
		obj, ok := v.(map[string]any)
		if !ok {
			return append(problems, at+": want an object")
		}
		props, _ := schema["properties"].(map[string]any)
		additional, _ := schema["additionalProperties"].(map[string]any)
		preserve, _ := schema["x-kubernetes-preserve-unknown-fields"].(bool)
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if p, ok := props[k].(map[string]any); ok {
				problems = append(problems, validate(p, obj[k], at+"."+k)...)
			} else if additional != nil {
				problems = append(problems, validate(additional, obj[k], at+"."+k)...)
			} else if !preserve {
				problems = append(problems, at+"."+k+": not a field of the schema")
			}
		}
		if required, ok := schema["required"].([]any); ok {
			for _, r := range required {
				if _, ok := obj[r.(string)]; !ok {
					problems = append(problems, fmt.Sprintf("%s.%v: required", at, r))
				}
			}
		}
	case "array":
		list, ok := v.([]any)
		if !ok {
			return append(problems, at+": want an array")
		}
		items, _ := schema["items"].(map[string]any)
		for i, e := range list {
			if items != nil {
				problems = append(problems, validate(items, e, fmt.Sprintf("%s[%d]", at, i))...)
			}
		}
	case "string":
		if _, ok := v.(string); !ok {
			problems = append(problems, at+": want a string")
		}
	case "integer":
		switch n := v.(type) {
		case int, int64:
		case float64:
			if n != math.Trunc(n) {
				problems = append(problems, at+": want an integer")
			}
		default:
			problems = append(problems, at+": want an integer")
		}
	case "number":
		switch v.(type) {
		case int, int64, float64:
		default:
			problems = append(problems, at+": want a number")
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			problems = append(problems, at+": want a boolean")
		}
	}
	return problems
}

func containsValue(list []any, v any) bool {
	for _, e := range list {
		if fmt.Sprint(e) == fmt.Sprint(v) {
			return true
		}
	}
	return false
}
