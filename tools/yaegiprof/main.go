// Command yaegiprof runs the plugin the way Traefik does, interpreted by Yaegi and called through
// Yaegi's http.Handler wrapper, for a fixed number of requests, and reports the time and allocations per
// request, optionally with CPU and allocation profiles. It takes Traefik, wrk and the network out of the
// picture, so a change to the request path can be measured in seconds. bench/profile-yaegi.sh lays out
// the plugin, starts a throwaway Redis and runs it; see the readme's "Developing" section.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"time"

	"github.com/traefik/yaegi/interp"
	"github.com/traefik/yaegi/stdlib"
)

type settings []string

func (s *settings) String() string     { return strings.Join(*s, ",") }
func (s *settings) Set(v string) error { *s = append(*s, v); return nil }

// backend is the next handler: compiled and doing nothing, so only the plugin is measured.
type backend struct{}

func (backend) ServeHTTP(http.ResponseWriter, *http.Request) {}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "yaegiprof:", err)
		os.Exit(1) // a compiled tool, never loaded by Traefik
	}
}

func run() error {
	gopath := flag.String("gopath", "", "a GOPATH holding src/github.com/sessionjwt/sessionjwt (scripts/layout-plugin.sh)")
	cookie := flag.String("cookie", "", "the Cookie header every request carries")
	authorization := flag.String("authorization", "", "the Authorization header every request carries (an API client's token)")
	n := flag.Int("n", 100000, "requests")
	c := flag.Int("c", 1, "goroutines sending the requests at once (each its own request and recorder)")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the measured requests to this file")
	memProfile := flag.String("memprofile", "", "write an allocation profile (every allocation) to this file")
	var set settings
	flag.Var(&set, "set", "a configuration key and value, as key=value with the key as in the readme (repeatable); values are JSON when they parse as JSON")
	flag.Parse()

	i := interp.New(interp.Options{GoPath: *gopath, Env: os.Environ()})
	if err := i.Use(stdlib.Symbols); err != nil {
		return err
	}
	if _, err := i.Eval(`import "github.com/sessionjwt/sessionjwt"`); err != nil {
		return err
	}
	createConfig, err := i.Eval("sessionjwt.CreateConfig")
	if err != nil {
		return err
	}
	newPlugin, err := i.Eval("sessionjwt.New")
	if err != nil {
		return err
	}
	config := createConfig.Call(nil)[0]
	for _, kv := range set {
		key, value, _ := strings.Cut(kv, "=")
		if err := setKey(config.Elem(), key, value); err != nil {
			return err
		}
	}
	out := newPlugin.Call([]reflect.Value{reflect.ValueOf(context.Background()),
		reflect.ValueOf(http.Handler(backend{})), config, reflect.ValueOf("yaegiprof")})
	if !out[1].IsNil() {
		return fmt.Errorf("New: %v", out[1].Interface())
	}
	handler := out[0].Interface().(http.Handler)

	newRequest := func() *http.Request {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		if *cookie != "" {
			req.Header.Set("Cookie", *cookie)
		}
		if *authorization != "" {
			req.Header.Set("Authorization", *authorization)
		}
		return req
	}
	req := newRequest()
	rec := httptest.NewRecorder()
	handler.ServeHTTP(rec, req) // the first request verifies the cookie and fills what the plugin remembers
	if rec.Code != http.StatusOK || req.Header.Get("Authorization") == "" {
		return fmt.Errorf("the plugin did not forward the request with a JWT: status %d, %s", rec.Code, rec.Body.String())
	}

	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	if *memProfile != "" {
		runtime.MemProfileRate = 1
	}
	// Each goroutine sends its share on its own request and recorder, made before the clock starts.
	if *c < 1 || *c > *n {
		return fmt.Errorf("-c must be between 1 and -n")
	}
	total := *n / *c * *c
	reqs := make([]*http.Request, *c)
	for g := range reqs {
		reqs[g] = newRequest()
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	var wg sync.WaitGroup
	for _, r := range reqs {
		wg.Add(1)
		go func(r *http.Request) {
			defer wg.Done()
			rec := httptest.NewRecorder()
			for k := 0; k < total / *c; k++ {
				handler.ServeHTTP(rec, r)
			}
		}(r)
	}
	wg.Wait()
	elapsed := time.Since(start)
	runtime.ReadMemStats(&after)
	fmt.Printf("%d requests: %.2f us/request, %d allocations/request\n", total,
		float64(elapsed.Nanoseconds())/float64(total)/1e3, (after.Mallocs-before.Mallocs)/uint64(total))
	if *memProfile != "" {
		f, err := os.Create(*memProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
			return err
		}
	}
	return nil
}

// setKey sets the Config field whose JSON name is key (a dotted path for nested blocks, e.g. jwt.leeway).
func setKey(v reflect.Value, key, value string) error {
	name, rest, nested := strings.Cut(key, ".")
	for f := 0; f < v.NumField(); f++ {
		tag, _, _ := strings.Cut(v.Type().Field(f).Tag.Get("json"), ",")
		if tag != name {
			continue
		}
		field := v.Field(f)
		if nested {
			return setKey(field, rest, value)
		}
		if field.Kind() == reflect.String {
			field.SetString(value)
			return nil
		}
		p := reflect.New(field.Type())
		if err := json.Unmarshal([]byte(value), p.Interface()); err != nil {
			return fmt.Errorf("%s: %v", key, err)
		}
		field.Set(p.Elem())
		return nil
	}
	return fmt.Errorf("no configuration key %q", key)
}
