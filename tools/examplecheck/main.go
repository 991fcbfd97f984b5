// Command examplecheck proves the configuration examples in the readme: each block marked
// `<!-- example: NAME, FORM -->` (FORM: file, labels or kubernetes) is decoded as Traefik decodes that
// form (YAML of the file provider; Docker labels with Traefik's own label parser, paerser; Kubernetes
// manifests checked against Traefik's CRD schema), then into the plugin's Config as Traefik's plugin
// builder does (mapstructure, StringToSliceHookFunc(","), WeaklyTypedInput). The forms of one example must
// give the same configuration, and New must accept each (its *File keys pointed at generated files).
// examples/*.yml are checked like file-form blocks.
//
//	examplecheck [-repo DIR] [-crd FILE] [-write-dynamic FILE]
//
// -write-dynamic writes the readme's file-form middlewares, each behind a router /readme/<middleware>/ to
// the e2e suite's backend service, for the e2e Traefik to load.
package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"

	"github.com/sessionjwt/sessionjwt"
)

func main() {
	repo := flag.String("repo", "../..", "the repository")
	crd := flag.String("crd", "", "Traefik's CRD definitions (default: from the Traefik v3.6.12 module)")
	writeDynamic := flag.String("write-dynamic", "", "write the readme's file-form middlewares here for the e2e Traefik")
	flag.Parse()
	if err := run(*repo, *crd, *writeDynamic); err != nil {
		fmt.Fprintln(os.Stderr, "examplecheck:", err)
		os.Exit(1)
	}
}

func run(repo, crdFile, writeDynamic string) error {
	readme, err := os.ReadFile(filepath.Join(repo, "readme.md"))
	if err != nil {
		return err
	}
	blocks, err := exampleBlocks(string(readme))
	if err != nil {
		return err
	}
	others, _ := filepath.Glob(filepath.Join(repo, "examples", "*.yml"))
	for _, f := range others {
		data, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		if strings.Contains(string(data), "\nhttp:") || strings.HasPrefix(string(data), "http:") {
			blocks = append(blocks, block{name: filepath.Base(f), form: "file", text: string(data), line: 1})
		}
	}
	if crdFile == "" {
		if crdFile, err = traefikCRD("v3.6.12"); err != nil {
			return err
		}
	}
	schemas, err := loadCRDSchemas(crdFile)
	if err != nil {
		return err
	}
	// The stand-ins for the files the examples name; beside the written configuration, which uses them.
	files := ""
	if writeDynamic != "" {
		files = writeDynamic + ".files"
		err = os.MkdirAll(files, 0o700)
	} else {
		files, err = os.MkdirTemp("", "examplecheck-")
		defer os.RemoveAll(files)
	}
	if err != nil {
		return err
	}

	// example name -> form -> middleware name -> decoded configuration
	decoded := map[string]map[string]map[string]*sessionjwt.Config{}
	var fileForm []namedPlugin
	failures := 0
	for _, b := range blocks {
		raw, err := pluginConfigs(b, schemas)
		if err != nil {
			fmt.Fprintf(os.Stderr, "readme line %d (%s, %s): %v\n", b.line, b.name, b.form, err)
			failures++
			continue
		}
		if len(raw) == 0 {
			fmt.Fprintf(os.Stderr, "readme line %d (%s, %s): no sessionjwt middleware in it\n", b.line, b.name, b.form)
			failures++
			continue
		}
		for mw, conf := range raw {
			cfg, err := decodeLikeTraefik(conf)
			if err != nil {
				fmt.Fprintf(os.Stderr, "readme line %d (%s, %s): middleware %s: %v\n", b.line, b.name, b.form, mw, err)
				failures++
				continue
			}
			rewritten, err := acceptedByNew(conf, files, mw)
			if err != nil {
				fmt.Fprintf(os.Stderr, "readme line %d (%s, %s): middleware %s: New refuses it: %v\n", b.line, b.name, b.form, mw, err)
				failures++
				continue
			}
			if decoded[b.name] == nil {
				decoded[b.name] = map[string]map[string]*sessionjwt.Config{}
			}
			if decoded[b.name][b.form] == nil {
				decoded[b.name][b.form] = map[string]*sessionjwt.Config{}
			}
			decoded[b.name][b.form][mw] = cfg
			if b.form == "file" && !strings.HasSuffix(b.name, ".yml") {
				fileForm = append(fileForm, namedPlugin{name: mw, conf: rewritten})
			}
		}
	}
	checked := 0
	for name, forms := range decoded {
		if len(forms) < 2 {
			continue
		}
		var names []string
		for form := range forms {
			names = append(names, form)
		}
		sort.Strings(names)
		first := names[0]
		for _, form := range names[1:] {
			checked++
			for _, d := range differences(forms[first], forms[form]) {
				fmt.Fprintf(os.Stderr, "example %s: %s and %s differ: %s\n", name, first, form, d)
				failures++
			}
		}
	}
	if failures > 0 {
		return fmt.Errorf("%d problems in the configuration examples", failures)
	}
	if writeDynamic != "" {
		if err := writeE2EDynamic(writeDynamic, fileForm, files); err != nil {
			return err
		}
	}
	fmt.Printf("examplecheck: %d example blocks decoded as Traefik does and accepted by New; %d pairs of forms that claim to be the same are the same\n",
		len(blocks), checked)
	return nil
}

type namedPlugin struct {
	name string
	conf map[string]any
}

// differences lists, per middleware, the Config fields that differ between two forms.
func differences(a, b map[string]*sessionjwt.Config) []string {
	var out []string
	for mw := range a {
		if b[mw] == nil {
			out = append(out, "middleware "+mw+" is only in one of them")
		}
	}
	for mw, cb := range b {
		ca := a[mw]
		if ca == nil {
			out = append(out, "middleware "+mw+" is only in one of them")
			continue
		}
		va, vb := reflect.ValueOf(*ca), reflect.ValueOf(*cb)
		for i := 0; i < va.NumField(); i++ {
			if !reflect.DeepEqual(va.Field(i).Interface(), vb.Field(i).Interface()) {
				out = append(out, fmt.Sprintf("%s.%s: %#v vs %#v", mw, va.Type().Field(i).Name, va.Field(i).Interface(), vb.Field(i).Interface()))
			}
		}
	}
	sort.Strings(out)
	return out
}

// acceptedByNew points conf's file keys at generated files (withFiles), decodes it as Traefik does and
// runs the plugin's New on it; it returns the rewritten configuration.
func acceptedByNew(conf map[string]any, dir, mw string) (map[string]any, error) {
	rewritten, err := withFiles(conf, dir)
	if err != nil {
		return nil, err
	}
	cfg, err := decodeLikeTraefik(rewritten)
	if err != nil {
		return nil, err
	}
	if _, err := sessionjwt.New(context.Background(), http.NotFoundHandler(), cfg, mw); err != nil {
		return nil, err
	}
	return rewritten, nil
}
