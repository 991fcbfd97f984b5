package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/mitchellh/mapstructure"
	"github.com/sessionjwt/sessionjwt"
	"github.com/traefik/paerser/parser"
	"gopkg.in/yaml.v3"
)

// block is one marked example in the readme.
type block struct {
	name, form, text string
	line             int
}

var marker = regexp.MustCompile(`^<!-- example: ([a-z0-9-]+), (file|labels|kubernetes) -->$`)

// exampleBlocks returns the yaml block after each marker.
func exampleBlocks(readme string) ([]block, error) {
	var out []block
	lines := strings.Split(readme, "\n")
	for i := 0; i < len(lines); i++ {
		m := marker.FindStringSubmatch(lines[i])
		if m == nil {
			if strings.HasPrefix(lines[i], "<!-- example") {
				return nil, fmt.Errorf("readme line %d: a marker must read <!-- example: NAME, file|labels|kubernetes -->", i+1)
			}
			continue
		}
		if i+1 >= len(lines) || lines[i+1] != "```yaml" {
			return nil, fmt.Errorf("readme line %d: the marker is not followed by a ```yaml block", i+1)
		}
		var text []string
		j := i + 2
		for ; j < len(lines) && lines[j] != "```"; j++ {
			text = append(text, lines[j])
		}
		out = append(out, block{name: m[1], form: m[2], text: strings.Join(text, "\n") + "\n", line: i + 3})
		i = j
	}
	if len(out) == 0 {
		return nil, errors.New("the readme has no marked examples")
	}
	return out, nil
}

// pluginConfigs returns each sessionjwt middleware's plugin configuration in b, as Traefik's provider for
// b's form hands it to the plugin builder.
func pluginConfigs(b block, schemas map[string]map[string]any) (map[string]map[string]any, error) {
	switch b.form {
	case "file":
		return fileConfigs(b.text)
	case "labels":
		return labelConfigs(b.text)
	default:
		return kubernetesConfigs(b.text, schemas)
	}
}

func fileConfigs(text string) (map[string]map[string]any, error) {
	var doc struct {
		HTTP struct {
			Middlewares map[string]struct {
				Plugin map[string]map[string]any `yaml:"plugin"`
			} `yaml:"middlewares"`
		} `yaml:"http"`
	}
	if err := yaml.Unmarshal([]byte(text), &doc); err != nil {
		return nil, err
	}
	out := map[string]map[string]any{}
	for name, mw := range doc.HTTP.Middlewares {
		if conf, ok := mw.Plugin["sessionjwt"]; ok {
			out[name] = conf
		}
	}
	return out, nil
}

// The parts of Traefik's dynamic configuration that the label examples use, shaped as in
// github.com/traefik/traefik/v3/pkg/config/dynamic (PluginConf is map[string]any there too).
type labelConfiguration struct {
	HTTP *struct {
		Routers map[string]*struct {
			Rule        string
			Service     string
			Middlewares []string
		}
		Middlewares map[string]*struct {
			Plugin map[string]pluginConf
		}
	}
}

type pluginConf map[string]any

// labelConfigs decodes labels as Traefik's Docker provider does: label.DecodeConfiguration calls
// parser.Decode(labels, conf, "traefik", "traefik.http", ...).
func labelConfigs(text string) (map[string]map[string]any, error) {
	var doc struct {
		Labels []string `yaml:"labels"`
	}
	if err := yaml.Unmarshal([]byte(text), &doc); err != nil {
		return nil, err
	}
	labels := map[string]string{}
	for _, l := range doc.Labels {
		k, v, ok := strings.Cut(l, "=")
		if !ok {
			return nil, fmt.Errorf("label %q has no =", l)
		}
		labels[k] = v
	}
	conf := &labelConfiguration{}
	if err := parser.Decode(labels, conf, parser.DefaultRootName, "traefik.http"); err != nil {
		return nil, err
	}
	out := map[string]map[string]any{}
	if conf.HTTP != nil {
		for name, mw := range conf.HTTP.Middlewares {
			if c, ok := mw.Plugin["sessionjwt"]; ok {
				out[name] = c
			}
		}
	}
	return out, nil
}

// kubernetesConfigs checks every manifest against Traefik's CRD schema for its kind and returns the
// Middlewares' plugin configurations as Traefik's CRD provider reads them (JSON values).
func kubernetesConfigs(text string, schemas map[string]map[string]any) (map[string]map[string]any, error) {
	out := map[string]map[string]any{}
	dec := yaml.NewDecoder(strings.NewReader(text))
	for {
		var doc map[string]any
		err := dec.Decode(&doc)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		apiVersion, _ := doc["apiVersion"].(string)
		kind, _ := doc["kind"].(string)
		schema := schemas[apiVersion+" "+kind]
		if schema == nil {
			return nil, fmt.Errorf("%s %s is not a kind in Traefik's CRDs", apiVersion, kind)
		}
		// The API server checks metadata as ObjectMeta, not by the CRD's schema: a name is what it needs here.
		meta, _ := doc["metadata"].(map[string]any)
		name, _ := meta["name"].(string)
		if name == "" {
			return nil, fmt.Errorf("%s without metadata.name", kind)
		}
		checked := map[string]any{"metadata": map[string]any{}}
		for k, v := range doc {
			if k != "metadata" {
				checked[k] = v
			}
		}
		if problems := validate(schema, checked, kind); len(problems) > 0 {
			return nil, fmt.Errorf("not valid under Traefik's CRD schema: %s", strings.Join(problems, "; "))
		}
		if kind != "Middleware" {
			continue
		}
		spec, _ := doc["spec"].(map[string]any)
		plugin, _ := spec["plugin"].(map[string]any)
		raw, ok := plugin["sessionjwt"]
		if !ok {
			continue
		}
		// Kubernetes stores it as JSON; Traefik unmarshals that into map[string]any.
		b, err := json.Marshal(raw)
		if err != nil {
			return nil, err
		}
		var conf map[string]any
		if err := json.Unmarshal(b, &conf); err != nil {
			return nil, err
		}
		out[name] = conf
	}
	return out, nil
}

// decodeLikeTraefik decodes a plugin configuration over CreateConfig as Traefik's plugin builder does
// (pkg/plugins/middlewareyaegi.go).
func decodeLikeTraefik(conf map[string]any) (*sessionjwt.Config, error) {
	cfg := sessionjwt.CreateConfig()
	decoder, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{
		DecodeHook:       mapstructure.StringToSliceHookFunc(","),
		WeaklyTypedInput: true,
		Result:           cfg,
	})
	if err != nil {
		return nil, err
	}
	if err := decoder.Decode(conf); err != nil {
		return nil, err
	}
	return cfg, nil
}

// yamlOf renders v as YAML.
func yamlOf(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), enc.Close()
}
