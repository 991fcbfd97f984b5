package e2e

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

const jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJlMmUifQ.c2ln"

var client = &http.Client{Timeout: 10 * time.Second}

// result is what a request through Traefik produced: the status, the body, and for requests the backend
// answered, the headers it received.
type result struct {
	status  int
	body    string
	header  http.Header // response headers
	backend http.Header // nil when the backend did not answer
}

func do(t testing.TB, path string, edit func(*http.Request)) result {
	t.Helper()
	needHarness(t)
	req, err := http.NewRequest(http.MethodGet, h.web+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(req)
	}
	res, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	r := result{status: res.StatusCode, body: string(body), header: res.Header}
	if res.StatusCode == http.StatusOK {
		r.backend = http.Header{}
		if err := json.Unmarshal(body, &r.backend); err != nil {
			t.Fatalf("GET %s: backend body %q: %v", path, body, err)
		}
	}
	return r
}

func withCookie(name, value string, headers ...string) func(*http.Request) {
	return func(req *http.Request) {
		if name != "" {
			req.AddCookie(&http.Cookie{Name: name, Value: value})
		}
		for i := 0; i+1 < len(headers); i += 2 {
			req.Header.Add(headers[i], headers[i+1])
		}
	}
}

// The swap with a cookie signed by the real itsdangerous; the client's own Authorization headers are
// replaced by exactly one.
func TestSwap(t *testing.T) {
	id := newSession(t, "", jwt)
	cookie := signCookie(t, secret, id)
	r := do(t, "/pass/api", withCookie("session_uuid", cookie, "Authorization", "Bearer forged-1", "Authorization", "Bearer forged-2"))
	if r.status != http.StatusOK {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	if got := r.backend.Values("Authorization"); len(got) != 1 || got[0] != "Bearer "+jwt {
		t.Fatalf("backend saw Authorization %q, want exactly [Bearer %s]", got, jwt)
	}
}

// Another middleware in the same Traefik with its own settings: cookie name, rotated secrets, key prefix,
// header name and no header type.
func TestSeveralMiddlewaresInOneTraefik(t *testing.T) {
	id := newSession(t, "session:", jwt)
	r := do(t, "/other/api", withCookie("sid", signCookie(t, otherSecret, id), "X-Jwt", "forged"))
	if r.status != http.StatusOK || strings.Join(r.backend.Values("X-Jwt"), "|") != jwt {
		t.Fatalf("status %d, backend saw X-Jwt %q", r.status, r.backend.Values("X-Jwt"))
	}
	// The newer rotated secret verifies too.
	r = do(t, "/other/api", withCookie("sid", signCookie(t, "rotated-in", id)))
	if r.backend.Get("X-Jwt") != jwt {
		t.Fatalf("a cookie signed with the newer secret did not verify: %q", r.backend.Get("X-Jwt"))
	}
	// The main middleware's cookie means nothing here (other secret, other name).
	r = do(t, "/other/api", withCookie("session_uuid", signCookie(t, secret, id)))
	if r.backend.Get("X-Jwt") != "" {
		t.Fatal("the other middleware accepted a cookie it should not")
	}
}

func TestUnauthenticatedPolicies(t *testing.T) {
	known := newSession(t, "", jwt)
	good := signCookie(t, secret, known)
	cases := []struct {
		name   string
		cookie string
	}{
		{"missing", ""},
		{"tampered", good[:len(good)-2] + "xx"},
		{"unsigned", known},
		{"unknown session", signCookie(t, secret, "no-such-session")},
	}
	policies := []struct {
		router        string
		status        int
		authorization string // what the backend sees
	}{
		{"pass", http.StatusOK, "Bearer client"},
		{"strip", http.StatusOK, ""},
		{"reject", http.StatusUnauthorized, ""},
	}
	for _, p := range policies {
		for _, c := range cases {
			edit := withCookie("", "", "Authorization", "Bearer client")
			if c.cookie != "" {
				edit = withCookie("session_uuid", c.cookie, "Authorization", "Bearer client")
			}
			r := do(t, "/"+p.router+"/api", edit)
			name := p.router + "/" + c.name
			if r.status != p.status {
				t.Errorf("%s: status %d, want %d", name, r.status, p.status)
				continue
			}
			if r.status == http.StatusUnauthorized {
				if r.header.Get("Content-Type") != "application/json" || !strings.Contains(r.body, `"error"`) ||
					r.header.Get("WWW-Authenticate") == "" {
					t.Errorf("%s: 401 answer %q with headers %v", name, r.body, r.header)
				}
				continue
			}
			if got := r.backend.Get("Authorization"); got != p.authorization {
				t.Errorf("%s: backend saw Authorization %q, want %q", name, got, p.authorization)
			}
		}
	}
}

func TestRedisFailurePolicies(t *testing.T) {
	cookie := signCookie(t, secret, newSession(t, "", jwt))
	start := time.Now()
	r := do(t, "/down-reject/api", withCookie("session_uuid", cookie))
	if r.status != http.StatusServiceUnavailable || !strings.Contains(r.body, "session store unavailable") {
		t.Fatalf("redisFailure reject: status %d body %q", r.status, r.body)
	}
	r = do(t, "/down-pass/api", withCookie("session_uuid", cookie))
	if r.status != http.StatusUnauthorized {
		t.Fatalf("redisFailure pass with unauthenticated reject: status %d, want 401", r.status)
	}
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Fatalf("two requests to a dead Redis took %v (redisTimeout 300ms)", elapsed)
	}
}

// A bad configuration disables only its router, which answers 404 as Traefik documents, and the log names
// the key.
func TestBadPluginConfiguration(t *testing.T) {
	if r := do(t, "/bad/api", nil); r.status != http.StatusNotFound {
		t.Fatalf("status %d, want 404", r.status)
	}
	if log := h.log(); !strings.Contains(log, `signatureAlgorithm \"sha3_256\" is not one of`) &&
		!strings.Contains(log, `signatureAlgorithm "sha3_256" is not one of`) {
		t.Fatalf("the log does not name the bad key:\n%s", log)
	}
}

func TestWebsocketThroughMiddleware(t *testing.T) {
	cookie := signCookie(t, secret, newSession(t, "", jwt))
	hdr := http.Header{}
	hdr.Set("Cookie", "session_uuid="+cookie)
	wsURL := "ws" + strings.TrimPrefix(h.web, "http") + "/pass/ws"
	conn, res, err := websocket.DefaultDialer.Dial(wsURL, hdr)
	if err != nil {
		status := 0
		if res != nil {
			status = res.StatusCode
		}
		t.Fatalf("dial %s: %v (status %d)", wsURL, err, status)
	}
	defer conn.Close()
	for i := 0; i < 3; i++ {
		msg := "hello " + strconv.Itoa(i)
		if err := conn.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, reply, err := conn.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		if string(reply) != "Bearer "+jwt+"|"+msg {
			t.Fatalf("reply %q", reply)
		}
	}
}

// The backend sends the second event only after the client has read the first: if the middleware (or
// anything) buffered the stream, the client would never see the first event.
func TestServerSentEventsAreNotBuffered(t *testing.T) {
	cookie := signCookie(t, secret, newSession(t, "", jwt))
	req, _ := http.NewRequest(http.MethodGet, h.web+"/pass/sse", nil)
	req.AddCookie(&http.Cookie{Name: "session_uuid", Value: cookie})
	req.Header.Set("Accept", "text/event-stream")
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			if sc.Text() != "" {
				lines <- sc.Text()
			}
		}
		close(lines)
	}()
	select {
	case first := <-lines:
		if first != "data: first Bearer "+jwt {
			t.Fatalf("first event %q", first)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the first event did not arrive: the stream is buffered")
	}
	sseContinue <- struct{}{}
	select {
	case second := <-lines:
		if second != "data: second" {
			t.Fatalf("second event %q", second)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the second event did not arrive")
	}
}

// load sends requests from several clients until stop is closed and counts the answers that were not the
// swap (status 200 with the JWT at the backend).
type load struct {
	ok, failed atomic.Int64
	slowest    atomic.Int64 // nanoseconds
	stop       chan struct{}
	wg         sync.WaitGroup
	lastErr    atomic.Value
}

func startLoad(clients int, path, cookie string, accept func(status int, authorization string) bool) *load {
	l := &load{stop: make(chan struct{})}
	for i := 0; i < clients; i++ {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			c := &http.Client{Timeout: 10 * time.Second}
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				req, _ := http.NewRequest(http.MethodGet, h.web+path, nil)
				req.AddCookie(&http.Cookie{Name: "session_uuid", Value: cookie})
				start := time.Now()
				res, err := c.Do(req)
				elapsed := time.Since(start)
				if elapsed.Nanoseconds() > l.slowest.Load() {
					l.slowest.Store(elapsed.Nanoseconds())
				}
				if err != nil {
					l.failed.Add(1)
					l.lastErr.Store(err.Error())
					continue
				}
				var hdr http.Header
				if res.StatusCode == http.StatusOK {
					json.NewDecoder(res.Body).Decode(&hdr)
				}
				res.Body.Close()
				if accept(res.StatusCode, hdr.Get("Authorization")) {
					l.ok.Add(1)
				} else {
					l.failed.Add(1)
					l.lastErr.Store("status " + strconv.Itoa(res.StatusCode) + " authorization " + hdr.Get("Authorization"))
				}
			}
		}()
	}
	return l
}

func (l *load) finish() { close(l.stop); l.wg.Wait() }

// sessionjwtClients counts the connections our pools hold (CLIENT LIST name=sessionjwt), on database db
// or, for db -1, on all.
func sessionjwtClients(t *testing.T, db int) int {
	t.Helper()
	list, err := h.redisDo("CLIENT", "LIST")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(list, "\n") {
		if strings.Contains(line, " name=sessionjwt ") && (db < 0 || strings.Contains(line, " db="+strconv.Itoa(db)+" ")) {
			n++
		}
	}
	return n
}

// Reloads that change a middleware's Redis settings leave no connections behind: changing only
// redisTimeout keeps the pool, and a replaced pool (another redisPoolSize) closes its connections within
// redisIdleTimeout (1s here) once idle, so CLIENT LIST comes back to what the live configuration uses.
func TestReloadsChangingRedisSettings(t *testing.T) {
	// The session lives in sj-reload's database (a script's SELECT applies to the script alone).
	id := newSession(t, "", jwt)
	if _, err := h.redisDo("EVAL", "redis.call('SELECT', ARGV[1]); return redis.call('SET', KEYS[1], ARGV[2], 'EX', 600)",
		"1", id, strconv.Itoa(reloadDB), jwt); err != nil {
		t.Fatal(err)
	}
	cookie := signCookie(t, secret, id)
	reload := func(timeout string, size int) {
		t.Helper()
		h.mu.Lock()
		h.reloadTimeout, h.reloadPoolSize = timeout, size
		h.mu.Unlock()
		if err := h.writeDynamic(); err != nil {
			t.Fatal(err)
		}
		waitForGeneration(t, h.generation)
		l := startLoad(6, "/reload/x", cookie, func(status int, authorization string) bool {
			return status == http.StatusOK && authorization == "Bearer "+jwt
		})
		time.Sleep(300 * time.Millisecond)
		l.finish()
		if l.failed.Load() != 0 || l.ok.Load() == 0 {
			t.Fatalf("redisTimeout %s, redisPoolSize %d: %d requests failed (last: %v)", timeout, size, l.failed.Load(), l.lastErr.Load())
		}
	}
	for i := 0; i < 6; i++ {
		reload(strconv.Itoa(300+10*i)+"ms", 4)
		if n := sessionjwtClients(t, reloadDB); n < 1 || n > 4 {
			t.Fatalf("after %d reloads changing only redisTimeout: %d connections, want 1..4", i+1, n)
		}
	}
	for _, size := range []int{3, 2, 1} {
		reload("300ms", size)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		do(t, "/reload/x", withCookie("session_uuid", cookie)) // the live configuration's traffic
		n := sessionjwtClients(t, reloadDB)
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d connections 15 s after the last reload, want the live pool's 1 (redisPoolSize 1)", n)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitForGeneration waits until Traefik serves configuration generation g.
func waitForGeneration(t *testing.T, g int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := do(t, "/bare/x", nil)
		if r.backend.Get("X-Generation") == strconv.Itoa(g) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Traefik still serves generation %s, want %d", r.backend.Get("X-Generation"), g)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Rewriting the configuration 50 times under traffic fails no request, and Traefik's connections to
// Redis stay within redisPoolSize (4) however many middleware instances the reloads created.
func TestReloadStorm(t *testing.T) {
	cookie := signCookie(t, secret, newSession(t, "", jwt))
	swapped := func(status int, authorization string) bool {
		return status == http.StatusOK && authorization == "Bearer "+jwt
	}
	l := startLoad(8, "/pass/api", cookie, swapped)
	first := h.generation
	for i := 0; i < 50; i++ {
		if err := h.writeDynamic(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Wait until Traefik serves the last generation, proving the reloads happened.
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := do(t, "/bare/x", nil)
		if r.backend.Get("X-Generation") == strconv.Itoa(h.generation) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Traefik still serves generation %s, want %d", r.backend.Get("X-Generation"), h.generation)
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond)
	l.finish()
	t.Logf("generations %d..%d: %d requests swapped, %d failed", first, h.generation, l.ok.Load(), l.failed.Load())
	if l.failed.Load() != 0 || l.ok.Load() == 0 {
		t.Fatalf("%d requests failed during the reload storm (last: %v)", l.failed.Load(), l.lastErr.Load())
	}
	if n := sessionjwtClients(t, 0); n < 1 || n > 4 {
		t.Fatalf("Traefik holds %d connections to Redis after 50 reloads, want 1..4 (redisPoolSize)", n)
	}
}

// Redis frozen, then stopped, under traffic: requests get 503 within redisTimeout, none hang. Started
// again: requests succeed within 2 s, without restarting Traefik.
func TestRedisStoppedAndStartedUnderTraffic(t *testing.T) {
	id := newSession(t, "", jwt)
	cookie := signCookie(t, secret, id)
	l := startLoad(4, "/pass/api", cookie, func(status int, authorization string) bool {
		return (status == http.StatusOK && authorization == "Bearer "+jwt) || status == http.StatusServiceUnavailable
	})
	time.Sleep(300 * time.Millisecond)
	// Frozen first (SIGSTOP): connections and commands get no answer, so only deadlines end requests.
	h.redis.Process.Signal(syscall.SIGSTOP)
	time.Sleep(1500 * time.Millisecond)
	if r := do(t, "/pass/api", withCookie("session_uuid", cookie)); r.status != http.StatusServiceUnavailable {
		t.Fatalf("with Redis frozen: status %d, want 503", r.status)
	}
	h.redis.Process.Signal(syscall.SIGCONT)
	time.Sleep(500 * time.Millisecond)
	if r := do(t, "/pass/api", withCookie("session_uuid", cookie)); r.status != http.StatusOK {
		t.Fatalf("after Redis thawed: status %d, want 200", r.status)
	}
	// Then stopped.
	if err := h.shutdownRedis(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	if r := do(t, "/pass/api", withCookie("session_uuid", cookie)); r.status != http.StatusServiceUnavailable {
		t.Fatalf("with Redis stopped: status %d, want 503", r.status)
	}
	if err := h.startRedis(); err != nil {
		t.Fatal(err)
	}
	back := time.Now()
	for {
		if r := do(t, "/pass/api", withCookie("session_uuid", cookie)); r.status == http.StatusOK {
			break
		}
		if time.Since(back) > 2*time.Second {
			t.Fatal("requests did not succeed within 2s of Redis coming back")
		}
		time.Sleep(20 * time.Millisecond)
	}
	recovered := time.Since(back)
	time.Sleep(300 * time.Millisecond)
	l.finish()
	slowest := time.Duration(l.slowest.Load())
	t.Logf("recovered %v after Redis came back; %d requests answered as documented, %d not; slowest %v",
		recovered, l.ok.Load(), l.failed.Load(), slowest)
	if l.failed.Load() != 0 {
		t.Fatalf("%d requests got neither the swap nor 503 (last: %v)", l.failed.Load(), l.lastErr.Load())
	}
	// redisTimeout is 300ms; a loaded 2-core machine gets a second of slack.
	if slowest > 1300*time.Millisecond {
		t.Fatalf("a request took %v: something waited beyond redisTimeout", slowest)
	}
	if log := h.log(); !strings.Contains(log, "is unavailable") || !strings.Contains(log, "is available again") {
		t.Errorf("the outage was not logged at its start and end")
	}
}
