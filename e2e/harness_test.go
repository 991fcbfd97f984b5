// Package e2e runs sessionjwt inside a real Traefik binary (local plugin mode) against a real Redis and a
// backend in this process. `make test` builds or reuses the Traefik binary and passes it in TRAEFIK_BIN.
package e2e

import (
	"bytes"
	"crypto/rand"
	"debug/buildinfo"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"
	"text/template"
	"time"
)

// The one Traefik, Redis and backend all tests share. Tests run one after another (no t.Parallel): some
// stop Redis or rewrite the configuration. When they cannot start, every test fails with startErr.
var (
	h        *harness
	startErr error
)

func TestMain(m *testing.M) {
	h, startErr = startHarness()
	m.Run() // returning lets the testing package exit with m.Run's status
	if h != nil {
		h.stop()
	}
}

// needHarness fails the test when the harness could not start.
func needHarness(t testing.TB) {
	t.Helper()
	if startErr != nil {
		t.Fatalf("e2e harness: %v", startErr)
	}
}

type harness struct {
	bin                       string // the Traefik binary
	dir, logPath, dynamicPath string
	traefik                   *exec.Cmd
	traefikExited             chan struct{} // closed when the Traefik process has ended
	traefikMajor              int           // 2 or 3, from `traefik version`
	redis                     *exec.Cmd
	redisPort                 int
	deadRedisPort             int
	backend                   *httptest.Server
	auth                      *httptest.Server // the auth service's refresh endpoint (authHandler)
	web                       string           // Traefik's entry point, http://127.0.0.1:port
	generation                int              // bumped by each configuration rewrite
	reloadTimeout             string           // sj-reload's redisTimeout and redisPoolSize
	reloadPoolSize            int
	mu                        sync.Mutex
}

func startHarness() (*harness, error) {
	bin := os.Getenv("TRAEFIK_BIN")
	if bin == "" {
		return nil, fmt.Errorf("TRAEFIK_BIN is not set: run `make test`, which builds Traefik (scripts/build-traefik.sh)")
	}
	dir, err := os.MkdirTemp("", "sessionjwt-e2e-")
	if err != nil {
		return nil, err
	}
	hh := &harness{bin: bin, dir: dir, logPath: filepath.Join(dir, "traefik.log"), dynamicPath: filepath.Join(dir, "dynamic", "dynamic.yml"),
		reloadTimeout: "300ms", reloadPoolSize: 4}
	if out, err := exec.Command("../scripts/layout-plugin.sh", dir).CombinedOutput(); err != nil {
		return hh, fmt.Errorf("layout-plugin.sh: %v: %s", err, out)
	}
	hh.redisPort = freePort()
	hh.deadRedisPort = freePort()
	if err := hh.startRedis(); err != nil {
		return hh, err
	}
	hh.backend = httptest.NewServer(backendHandler())
	hh.auth = httptest.NewServer(authHandler())

	var release string
	if hh.traefikMajor, release, err = traefikVersion(bin); err != nil {
		return hh, err
	}
	fmt.Fprintf(os.Stderr, "e2e: Traefik %s (%s)\n", release, bin)
	if err := os.MkdirAll(filepath.Dir(hh.dynamicPath), 0o700); err != nil {
		return hh, err
	}
	if err := hh.writeDynamic(); err != nil {
		return hh, err
	}
	// The readme's file-provider examples, as tools/examplecheck -write-dynamic wrote them (make test does).
	if readme := os.Getenv("SESSIONJWT_README_DYNAMIC"); readme != "" {
		data, err := os.ReadFile(readme)
		if err != nil {
			return hh, err
		}
		if err := os.WriteFile(filepath.Join(filepath.Dir(hh.dynamicPath), "readme.yml"), data, 0o600); err != nil {
			return hh, err
		}
	}
	t, err := hh.startTraefik("traefik")
	if t != nil {
		hh.traefik, hh.traefikExited, hh.web = t.cmd, t.exited, t.web
	}
	return hh, err
}

// traefikProcess is one Traefik the harness started.
type traefikProcess struct {
	cmd     *exec.Cmd
	exited  chan struct{} // closed when the process has ended
	web     string        // its entry point, http://127.0.0.1:port
	logPath string
}

// startTraefik starts a Traefik on a free port with the harness's dynamic configuration, logging to
// name.log, and waits until every plugin router answers. Several may run at once (one Redis, several
// gateways).
func (hh *harness) startTraefik(name string) (*traefikProcess, error) {
	webPort := freePort()
	p := &traefikProcess{web: "http://127.0.0.1:" + strconv.Itoa(webPort), logPath: filepath.Join(hh.dir, name+".log")}
	// Traefik v2.11 refuses to start with experimental.abortOnPluginFailure or log.noColor.
	v3Only := map[bool]string{true: "", false: ""}
	if hh.traefikMajor >= 3 {
		v3Only[true] = "\n  abortOnPluginFailure: true"
		v3Only[false] = "\n  noColor: true"
	}
	static := fmt.Sprintf(`entryPoints:
  web:
    address: "127.0.0.1:%d"
providers:
  file:
    directory: %q
    watch: true
experimental:%s
  localPlugins:
    sessionjwt:
      moduleName: github.com/sessionjwt/sessionjwt
log:
  level: INFO%s
`, webPort, filepath.Dir(hh.dynamicPath), v3Only[true], v3Only[false])
	staticPath := filepath.Join(hh.dir, name+"-static.yml")
	if err := os.WriteFile(staticPath, []byte(static), 0o600); err != nil {
		return nil, err
	}
	logFile, err := os.Create(p.logPath)
	if err != nil {
		return nil, err
	}
	p.cmd = exec.Command(hh.bin, "--configFile="+staticPath)
	p.cmd.Dir = hh.dir // local plugins are read from ./plugins-local
	p.cmd.Stdout = logFile
	p.cmd.Stderr = logFile
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	p.exited = make(chan struct{})
	go func() { p.cmd.Wait(); close(p.exited) }()
	// Ready when every plugin router answers (Traefik compiles the plugin first: a few seconds).
	deadline := time.Now().Add(60 * time.Second)
	for {
		res, err := http.Get(p.web + "/pass/ready")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return p, nil
			}
		}
		logText, _ := os.ReadFile(p.logPath)
		if time.Now().After(deadline) {
			return p, fmt.Errorf("%s did not serve /pass within 60s; log:\n%s", name, logText)
		}
		select {
		case <-p.exited:
			return p, fmt.Errorf("%s exited; log:\n%s", name, logText)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// stop ends a Traefik started by startTraefik.
func (p *traefikProcess) stop() {
	p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-p.exited
	}
}

// traefikVersion reads which Traefik a binary is from the module information Go embeds in it (a binary
// built from Traefik's module prints "Version: dev"): its major version and release.
func traefikVersion(bin string) (int, string, error) {
	info, err := buildinfo.ReadFile(bin)
	if err != nil {
		return 0, "", fmt.Errorf("%s: %v", bin, err)
	}
	for _, m := range append([]*debug.Module{&info.Main}, info.Deps...) {
		switch m.Path {
		case "github.com/traefik/traefik/v2":
			return 2, m.Version, nil
		case "github.com/traefik/traefik/v3":
			return 3, m.Version, nil
		}
	}
	return 0, "", fmt.Errorf("%s is not built from Traefik v2 or v3", bin)
}

func (hh *harness) stop() {
	if hh.traefikExited != nil {
		hh.traefik.Process.Signal(os.Interrupt)
		select {
		case <-hh.traefikExited:
		case <-time.After(10 * time.Second):
			hh.traefik.Process.Kill()
		}
	}
	hh.stopRedis()
	if hh.backend != nil {
		hh.backend.Close()
	}
	if hh.auth != nil {
		hh.auth.Close()
	}
	if os.Getenv("E2E_KEEP") == "" {
		os.RemoveAll(hh.dir)
	} else {
		fmt.Fprintf(os.Stderr, "e2e: kept %s (Traefik's log: %s)\n", hh.dir, hh.logPath)
	}
}

func (hh *harness) startRedis() error {
	hh.redis = exec.Command("redis-server", "--bind", "127.0.0.1", "--port", strconv.Itoa(hh.redisPort),
		"--save", "", "--appendonly", "no", "--dir", hh.dir)
	if err := hh.redis.Start(); err != nil {
		return fmt.Errorf("redis-server: %v (make test installs it)", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := hh.redisDo("PING"); err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("redis-server did not answer on port %d", hh.redisPort)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (hh *harness) stopRedis() {
	if hh.redis != nil && hh.redis.Process != nil {
		hh.redis.Process.Kill()
		hh.redis.Wait()
		hh.redis = nil
	}
}

// shutdownRedis stops Redis as an operator would: SHUTDOWN SAVE keeps the data in dump.rdb, which
// startRedis loads again.
func (hh *harness) shutdownRedis() error {
	hh.redisDo("SHUTDOWN", "SAVE") // answers by closing the connection
	done := make(chan error, 1)
	go func() { done <- hh.redis.Wait() }()
	select {
	case <-done:
		hh.redis = nil
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("redis did not shut down")
	}
}

// redisDo runs one command on a fresh connection to the harness's Redis (respDo).
func (hh *harness) redisDo(args ...string) (string, error) {
	return respDo("127.0.0.1:"+strconv.Itoa(hh.redisPort), "", args...)
}

func (hh *harness) log() string {
	b, _ := os.ReadFile(hh.logPath)
	return string(b)
}

// dynamicTemplate is the file provider configuration: one router per behaviour under test.
var dynamicTemplate = template.Must(template.New("dynamic").Parse(`# generation {{.Generation}}
http:
  routers:
    bare:
      rule: PathPrefix(` + "`/bare`" + `)
      service: backend
      middlewares: [generation]
{{- range .Routers}}
    {{.}}:
      rule: PathPrefix(` + "`/{{.}}`" + `)
      service: backend
      middlewares: [sj-{{.}}]
{{- end}}
  middlewares:
    generation:
      headers:
        customRequestHeaders:
          X-Generation: "{{.Generation}}"
{{- range .Policies}}
    sj-{{.}}:
      plugin:
        sessionjwt:
          secretKey: {{$.Secret}}
          redisURL: {{$.Redis}}
          redisTimeout: 300ms
          redisPoolSize: 4
          unauthenticated: {{.}}
{{- end}}
    sj-other:
      plugin:
        sessionjwt:
          secretKeys: [{{.OtherSecret}}, rotated-in]
          redisURL: {{.Redis}}
          redisTimeout: 300ms
          redisPoolSize: 4
          redisKeyPrefix: "session:"
          headerName: X-Jwt
          headerType: ""
          cookieName: sid
    sj-down-reject:
      plugin:
        sessionjwt:
          secretKey: {{.Secret}}
          redisURL: {{.DeadRedis}}
          redisTimeout: 300ms
    sj-down-pass:
      plugin:
        sessionjwt:
          secretKey: {{.Secret}}
          redisURL: {{.DeadRedis}}
          redisTimeout: 300ms
          redisFailure: pass
          unauthenticated: reject
    sj-api:
      plugin:
        sessionjwt:
          secretKey: {{.Secret}}
          redisURL: {{.Redis}}
          redisTimeout: 300ms # the same Redis settings share one pool
          redisPoolSize: 4
          unauthenticated: reject
          realm: api
          publicPaths: [/api/health]
          requiredScopes: [support:mobile]
          minimumLevel: 3
          claimHeaders:
            sub: X-User-Id
    sj-ui:
      plugin:
        sessionjwt:
          secretKey: {{.Secret}}
          redisURL: {{.Redis}}
          redisTimeout: 300ms # the same Redis settings share one pool
          redisPoolSize: 4
          unauthenticated: login
          loginURL: /ui/login
          publicPaths: [/ui/static/*]
    sj-refresh:
      plugin:
        sessionjwt:
          secretKey: {{.Secret}}
          redisURL: {{.Redis}}
          redisTimeout: 300ms
          redisPoolSize: 4
          refreshURL: {{.Auth}}/auth/v1/refresh
          refreshBelow: 1h
    sj-cached:
      plugin:
        sessionjwt:
          secretKey: {{.Secret}}
          redisURL: {{.Redis}}
          redisTimeout: 300ms
          redisPoolSize: 4
          cacheTTL: 1m
          cacheInvalidation: ttl
    sj-tracked:
      plugin:
        sessionjwt:
          secretKey: {{.Secret}}
          redisURL: {{.Redis}}
          redisTimeout: 300ms
          redisPoolSize: 4
          unauthenticated: reject
          cacheTTL: 1m
    sj-tokens:
      plugin:
        sessionjwt:
          secretKey: {{.Secret}}
          redisURL: {{.Redis}}
          redisTimeout: 300ms
          redisPoolSize: 4
          unauthenticated: reject
          bearerKeyPrefix: "access:"
          jwt:
            jwksURLs: [{{.Auth}}/.well-known/jwks.json]
            issuers: [https://idp.example]
            audiences: [orders]
          claimHeaders:
            sub: X-User-Id
    sj-idp:
      plugin:
        sessionjwt:
          secretKey: {{.Secret}}
          redisURL: {{.Redis}}
          redisTimeout: 300ms
          redisPoolSize: 4
          jwt: # unauthenticated left at its default
            jwksURLs: [{{.Auth}}/.well-known/jwks.json]
            issuers: [https://idp.example]
            audiences: [orders]
    sj-providers:
      plugin:
        sessionjwt:
          secretKey: {{.Secret}}
          redisURL: {{.Redis}}
          redisTimeout: 300ms
          redisPoolSize: 4
          unauthenticated: reject
          existingAuthorization: keep
          removeSessionCookie: true
          refreshURL: /auth/v1/refresh
          refreshHosts: [{{.AuthHost}}]
          refreshBelow: 1h
          jwt:
            providers:
              idp:
                issuer: https://idp.example
                audiences: [orders]
                jwksURLs: [{{.Auth}}/.well-known/jwks.json]
              oidc: # by discovery
                issuer: {{.Auth}}/oidc
              liar: # its discovery document names oidc's issuer
                issuer: {{.Auth}}/liar
    sj-ta-api:
      plugin:
        sessionjwt:
          secretKey: {{.Secret}}
          redisURL: {{.Redis}}
          redisTimeout: 300ms
          redisPoolSize: 4
          unauthenticated: pass
          authorize:
            endpoint: {{.Auth}}/tinyauth/
            service: apples
            accessKeyId: gatekeeper
            secretAccessKey: keymaster
            timeout: 300ms
            identityHeader: X-Identity
            rules:
              - methods: [GET]
                path: /ta-api/apples/{name}
                action: GetApple
                resource: apples/{name}
    sj-ta-ui:
      plugin:
        sessionjwt:
          secretKey: {{.Secret}}
          redisURL: {{.Redis}}
          redisTimeout: 300ms
          redisPoolSize: 4
          unauthenticated: login
          loginURL: /ta-ui/login
          authorize:
            endpoint: {{.Auth}}/tinyauth/
            service: apples
            accessKeyId: gatekeeper
            secretAccessKey: keymaster
            action: AccessWebInterface
    sj-ta-down:
      plugin:
        sessionjwt:
          secretKey: {{.Secret}}
          redisURL: {{.Redis}}
          unauthenticated: pass
          authorize:
            endpoint: http://127.0.0.1:{{.DeadPort}}/
            service: apples
            accessKeyId: gatekeeper
            secretAccessKey: keymaster
            action: AccessWebInterface
    sj-ta-slow:
      plugin:
        sessionjwt:
          secretKey: {{.Secret}}
          redisURL: {{.Redis}}
          unauthenticated: pass
          authorize:
            endpoint: {{.Auth}}/tinyauth-slow/
            service: apples
            accessKeyId: gatekeeper
            secretAccessKey: keymaster
            timeout: 300ms
            action: AccessWebInterface
    sj-ta-garbage:
      plugin:
        sessionjwt:
          secretKey: {{.Secret}}
          redisURL: {{.Redis}}
          unauthenticated: pass
          authorize:
            endpoint: {{.Auth}}/tinyauth-garbage/
            service: apples
            accessKeyId: gatekeeper
            secretAccessKey: keymaster
            action: AccessWebInterface
    sj-ta-bypass:
      plugin:
        sessionjwt:
          secretKey: {{.Secret}}
          redisURL: {{.Redis}}
          unauthenticated: pass
          authorize:
            bypass: true
            identityHeader: X-Identity
    sj-reload:
      plugin:
        sessionjwt:
          secretKey: {{.Secret}}
          redisURL: {{.ReloadRedis}}
          redisTimeout: {{.ReloadTimeout}}
          redisPoolSize: {{.ReloadPoolSize}}
          redisIdleTimeout: 1s
          cacheTTL: 0s # every request reads Redis: its connections are what the reload tests count
    sj-bad:
      plugin:
        sessionjwt:
          secretKey: {{.Secret}}
          signatureAlgorithm: sha3_256
  services:
    backend:
      loadBalancer:
        servers:
          - url: {{.Backend}}
`))

const (
	secret      = "e2e-secret"
	otherSecret = "e2e-other-secret"
	reloadDB    = 5 // sj-reload's database, so CLIENT LIST can tell its connections apart
)

// writeDynamic writes the next generation of the configuration atomically (Traefik may read a half-written
// file otherwise).
func (hh *harness) writeDynamic() error {
	hh.mu.Lock()
	defer hh.mu.Unlock()
	hh.generation++
	var b bytes.Buffer
	err := dynamicTemplate.Execute(&b, map[string]interface{}{
		"Generation": hh.generation,
		"Routers": []string{"pass", "strip", "reject", "other", "down-reject", "down-pass", "api", "ui", "refresh", "cached", "tracked",
			"tokens", "idp", "providers", "ta-api", "ta-ui", "ta-down", "ta-slow", "ta-garbage", "ta-bypass", "reload", "bad"},
		"Policies":       []string{"pass", "strip", "reject"}, // the unauthenticated policies, one middleware each
		"Secret":         secret,
		"OtherSecret":    otherSecret,
		"Redis":          "redis://127.0.0.1:" + strconv.Itoa(hh.redisPort) + "/0",
		"DeadRedis":      "redis://127.0.0.1:" + strconv.Itoa(hh.deadRedisPort) + "/0",
		"DeadPort":       hh.deadRedisPort, // nothing listens there
		"ReloadRedis":    "redis://127.0.0.1:" + strconv.Itoa(hh.redisPort) + "/" + strconv.Itoa(reloadDB),
		"ReloadTimeout":  hh.reloadTimeout,
		"ReloadPoolSize": hh.reloadPoolSize,
		"Backend":        hh.backend.URL,
		"Auth":           hh.auth.URL,
		"AuthHost":       strings.TrimPrefix(hh.auth.URL, "http://"),
	})
	if err != nil {
		return err
	}
	tmp := filepath.Join(hh.dir, "dynamic.tmp")
	if err := os.WriteFile(tmp, b.Bytes(), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, hh.dynamicPath)
}

func freePort() int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// signCookie signs value with the real itsdangerous, as the auth service would:
// Signer(secret, digest_method=hashlib.sha256).
func signCookie(t testing.TB, secret, value string) string {
	t.Helper()
	needHarness(t)
	out, err := exec.Command("/usr/bin/python3", "-c",
		"import hashlib, sys; from itsdangerous import Signer; "+
			"print(Signer(sys.argv[1], digest_method=hashlib.sha256).sign(sys.argv[2]).decode())",
		secret, value).CombinedOutput()
	if err != nil {
		t.Fatalf("itsdangerous: %v: %s (make test installs python3-itsdangerous)", err, out)
	}
	return strings.TrimSpace(string(out))
}

// newSession stores jwt under a fresh session id (with prefix) and returns the id.
func newSession(t testing.TB, prefix, jwt string) string {
	t.Helper()
	needHarness(t)
	b := make([]byte, 16)
	rand.Read(b)
	id := hex.EncodeToString(b)
	if _, err := h.redisDo("SET", prefix+id, jwt, "EX", "600"); err != nil {
		t.Fatal(err)
	}
	return id
}
