// Command catalogcheck checks that the plugin installs the way Traefik and its plugin catalog install it:
// it builds the module zip as the Go module proxy does (golang.org/x/mod/zip, which refuses file names a
// module may not hold), unzips it as Traefik does, checks the manifest, and loads the plugin from the zip
// the way Traefik's plugin builder does: Yaegi with the standard library symbols, CreateConfig,
// testData decoded with Traefik's mapstructure settings, and New, within the catalog's 10 s.
//
//	catalogcheck REPO_DIR
package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"reflect"
	"strings"
	"time"

	"github.com/mitchellh/mapstructure"
	"github.com/traefik/yaegi/interp"
	"github.com/traefik/yaegi/stdlib"
	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"
	"golang.org/x/mod/zip"
	"gopkg.in/yaml.v3"
)

// manifest is .traefik.yml, with the fields the catalog requires.
type manifest struct {
	DisplayName string         `yaml:"displayName"`
	Type        string         `yaml:"type"`
	Import      string         `yaml:"import"`
	BasePkg     string         `yaml:"basePkg"`
	Summary     string         `yaml:"summary"`
	TestData    map[string]any `yaml:"testData"`
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: catalogcheck REPO_DIR")
		os.Exit(2)
	}
	if err := check(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "catalogcheck:", err)
		os.Exit(1)
	}
}

func check(repo string) error {
	work, err := os.MkdirTemp("", "catalogcheck-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	modPath, err := modulePath(filepath.Join(repo, "go.mod"))
	if err != nil {
		return err
	}
	version := module.Version{Path: modPath, Version: "v0.0.0-catalogcheck"}
	tree := filepath.Join(work, "tree")
	if err := copyCommittable(repo, tree); err != nil {
		return err
	}
	zipPath := filepath.Join(work, "module.zip")
	f, err := os.Create(zipPath)
	if err != nil {
		return err
	}
	if err := zip.CreateFromDir(f, version, tree); err != nil {
		f.Close()
		return fmt.Errorf("the Go toolchain would refuse this module's zip: %w", err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	info, _ := os.Stat(zipPath)

	// Traefik unzips a plugin to <goPath>/src/<module path> and interprets it from there.
	goPath := filepath.Join(work, "gopath")
	dest := filepath.Join(goPath, "src", filepath.FromSlash(modPath))
	if err := zip.Unzip(dest, version, zipPath); err != nil {
		return fmt.Errorf("unzipping as Traefik does: %w", err)
	}
	m, err := readManifest(filepath.Join(dest, ".traefik.yml"), modPath)
	if err != nil {
		return err
	}

	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- load(goPath, m) }()
	select {
	case err := <-done:
		if err != nil {
			return err
		}
	case <-time.After(10 * time.Second):
		return errors.New("loading the plugin with testData took more than the catalog's 10 s")
	}
	fmt.Printf("catalogcheck: %s: module zip of %d bytes accepted; loaded from it by Yaegi with testData in %v\n",
		modPath, info.Size(), time.Since(start).Round(time.Millisecond))
	return nil
}

func modulePath(goMod string) (string, error) {
	data, err := os.ReadFile(goMod)
	if err != nil {
		return "", err
	}
	mf, err := modfile.Parse(goMod, data, nil)
	if err != nil {
		return "", err
	}
	if mf.Module == nil {
		return "", errors.New("go.mod has no module line")
	}
	return mf.Module.Mod.Path, nil
}

// copyCommittable copies the files the next commit would hold (tracked, and untracked but not ignored) to
// dst: what the module proxy would zip if this tree were tagged, without build leftovers.
func copyCommittable(repo, dst string) error {
	out, err := exec.Command("git", "-C", repo, "ls-files", "-z", "--cached", "--others", "--exclude-standard").Output()
	if err != nil {
		return fmt.Errorf("git ls-files: %w", err)
	}
	for _, name := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		src := filepath.Join(repo, name)
		st, err := os.Lstat(src)
		if err != nil || !st.Mode().IsRegular() {
			continue // deleted in the working tree, or not a regular file (git may track a symlink)
		}
		data, err := os.ReadFile(src)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, name)
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(target, data, st.Mode().Perm()); err != nil {
			return err
		}
	}
	return nil
}

// readManifest reads .traefik.yml and checks what the catalog requires of it.
func readManifest(file, modPath string) (manifest, error) {
	var m manifest
	data, err := os.ReadFile(file)
	if err != nil {
		return m, fmt.Errorf("the module zip has no .traefik.yml: %w", err)
	}
	if err := yaml.Unmarshal(data, &m); err != nil {
		return m, fmt.Errorf(".traefik.yml: %w", err)
	}
	switch {
	case m.DisplayName == "":
		return m, errors.New(".traefik.yml: displayName is missing")
	case m.Type != "middleware":
		return m, fmt.Errorf(".traefik.yml: type %q, want middleware", m.Type)
	case m.Import == "" || !strings.HasPrefix(m.Import, modPath):
		return m, fmt.Errorf(".traefik.yml: import %q does not start with the module path %s", m.Import, modPath)
	case m.Summary == "":
		return m, errors.New(".traefik.yml: summary is missing")
	case len(m.TestData) == 0:
		return m, errors.New(".traefik.yml: testData is missing")
	}
	return m, nil
}

// load does what Traefik's plugin builder does (pkg/plugins/middlewareyaegi.go in v3.6): a Yaegi
// interpreter with the standard library, the import, CreateConfig, testData decoded over it with
// mapstructure (StringToSliceHookFunc(","), WeaklyTypedInput), then New.
func load(goPath string, m manifest) error {
	i := interp.New(interp.Options{GoPath: goPath, Env: os.Environ(), Stdout: &bytes.Buffer{}, Stderr: &bytes.Buffer{}})
	if err := i.Use(stdlib.Symbols); err != nil {
		return err
	}
	if _, err := i.Eval(fmt.Sprintf("import %q", m.Import)); err != nil {
		return fmt.Errorf("Yaegi could not import %s: %w", m.Import, err)
	}
	basePkg := m.BasePkg
	if basePkg == "" {
		basePkg = strings.ReplaceAll(path.Base(m.Import), "-", "_")
	}
	fnNew, err := i.Eval(basePkg + ".New")
	if err != nil {
		return fmt.Errorf("eval New: %w", err)
	}
	fnCreateConfig, err := i.Eval(basePkg + ".CreateConfig")
	if err != nil {
		return fmt.Errorf("eval CreateConfig: %w", err)
	}
	results := fnCreateConfig.Call(nil)
	if len(results) != 1 {
		return fmt.Errorf("CreateConfig returns %d values", len(results))
	}
	cfg := results[0]
	decoder, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{
		DecodeHook:       mapstructure.StringToSliceHookFunc(","),
		WeaklyTypedInput: true,
		Result:           cfg.Interface(),
	})
	if err != nil {
		return err
	}
	if err := decoder.Decode(m.TestData); err != nil {
		return fmt.Errorf("decoding testData: %w", err)
	}
	next := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	out := fnNew.Call([]reflect.Value{reflect.ValueOf(context.Background()), reflect.ValueOf(next), cfg, reflect.ValueOf("catalogcheck")})
	if len(out) != 2 {
		return fmt.Errorf("New returns %d values", len(out))
	}
	if e := out[1].Interface(); e != nil {
		return fmt.Errorf("New with testData: %v", e)
	}
	if _, ok := out[0].Interface().(http.Handler); !ok {
		return fmt.Errorf("New returned %T, not an http.Handler", out[0].Interface())
	}
	return nil
}
