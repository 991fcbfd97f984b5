package sessionjwt

import (
	"math/rand"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Every way of reaching Redis, each against a real server set up by scripts/test-servers.sh.
func TestRedisURLsReachRealServers(t *testing.T) {
	plain := testEnv(t, "SESSIONJWT_TEST_REDIS")
	auth := testEnv(t, "SESSIONJWT_TEST_REDIS_AUTH")
	authPass := testEnv(t, "SESSIONJWT_TEST_REDIS_AUTH_PASSWORD")
	aclUser := testEnv(t, "SESSIONJWT_TEST_REDIS_ACL_USER")
	aclPass := testEnv(t, "SESSIONJWT_TEST_REDIS_ACL_PASSWORD")
	tlsAddr := testEnv(t, "SESSIONJWT_TEST_REDIS_TLS")
	tlsCA := testEnv(t, "SESSIONJWT_TEST_REDIS_TLS_CA")
	sock := testEnv(t, "SESSIONJWT_TEST_REDIS_UNIX")

	tests := []struct {
		name, url, caFile string
		admin             func(t *testing.T) *adminConn
		db                string
	}{
		{"plain", "redis://" + plain, "", func(t *testing.T) *adminConn { return dialAdmin(t, "tcp", plain) }, "0"},
		{"db 3", "redis://" + plain + "/3", "", func(t *testing.T) *adminConn { return dialAdmin(t, "tcp", plain) }, "3"},
		{"password", "redis://:" + urlEscape(authPass) + "@" + auth + "/0", "",
			func(t *testing.T) *adminConn { return dialAdmin(t, "tcp", auth, authPass) }, "0"},
		{"acl user", "redis://" + aclUser + ":" + aclPass + "@" + auth + "/2", "",
			func(t *testing.T) *adminConn { return dialAdmin(t, "tcp", auth, aclUser, aclPass) }, "2"},
		{"tls", "rediss://" + tlsAddr + "/0", tlsCA, nil, "0"},
		{"unix", "unix://" + sock, "", func(t *testing.T) *adminConn { return dialAdmin(t, "unix", sock) }, "0"},
		{"unix db 4", "unix://" + sock + "?db=4", "", func(t *testing.T) *adminConn { return dialAdmin(t, "unix", sock) }, "4"},
	}
	for _, tt := range tests {
		// Through New and ServeHTTP, as Traefik uses it.
		h, next := newTestMiddleware(t, func(c *Config) {
			c.RedisURL = tt.url
			c.RedisCAFile = tt.caFile
		})
		mw := h.(*SessionJWT)
		id, jwt := randomID(t), makeJWT(`{"sub":"`+tt.name+`"}`)
		// Write through the middleware's own pool where no admin connection fits (TLS).
		if tt.admin == nil {
			if _, err := mw.store.redis.do(time.Now().Add(2*time.Second), "SET", id, jwt, "EX", "60"); err != nil {
				t.Fatalf("%s: SET: %v", tt.name, err)
			}
		} else {
			a := tt.admin(t)
			a.do("SELECT", tt.db)
			a.do("SET", id, jwt, "EX", "60")
		}
		rec := serve(h, requestWithCookie("session_uuid", signedCookie(t, h, id)))
		if _, got := next.seen(); rec.Code != http.StatusOK || got.Get("Authorization") != "Bearer "+jwt {
			t.Errorf("%s: status %d, backend saw Authorization %q; want Bearer %s", tt.name, rec.Code, got.Get("Authorization"), jwt)
		}
	}
}

func urlEscape(s string) string { return strings.ReplaceAll(s, "#", "%23") }

func TestRedisConnectFailures(t *testing.T) {
	auth := testEnv(t, "SESSIONJWT_TEST_REDIS_AUTH")
	tlsAddr := testEnv(t, "SESSIONJWT_TEST_REDIS_TLS")
	otherCA := testEnv(t, "SESSIONJWT_TEST_REDIS_TLS_OTHER_CA")
	tests := []struct {
		name, url, caFile, wantErr string
	}{
		{"wrong password", "redis://:not-the-password@" + auth, "", "WRONGPASS"},
		{"no password", "redis://" + auth, "", "NOAUTH"},
		{"wrong acl user", "redis://mallory:x@" + auth, "", "WRONGPASS"},
		{"untrusted CA", "rediss://" + tlsAddr, otherCA, "certificate"},
		{"system roots", "rediss://" + tlsAddr, "", "certificate"},
		{"closed port", "redis://127.0.0.1:1", "", "refused"},
	}
	buf := captureLog(t)
	for _, tt := range tests {
		opts, err := parseRedisURL(tt.url, "")
		if err != nil {
			t.Fatal(err)
		}
		opts.timeout = 2 * time.Second
		opts.poolSize = 1
		if tt.caFile != "" {
			pem, _ := os.ReadFile(tt.caFile)
			if err := opts.setCA(pem); err != nil {
				t.Fatal(err)
			}
		}
		p := sharedPool(opts)
		_, err = redisGet(poolStore(p), "k", time.Now().Add(p.opts.timeout))
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("%s: err = %v, want one containing %q", tt.name, err, tt.wantErr)
		}
		if openConns(p) != 0 {
			t.Errorf("%s: a failed dial kept its slot", tt.name)
		}
	}
	if strings.Contains(buf.String(), "not-the-password") {
		t.Fatalf("a password reached the log:\n%s", buf.String())
	}
}

// However many goroutines ask at once, a pool never opens more than poolSize connections.
func TestPoolStaysWithinSize(t *testing.T) {
	addr := testEnv(t, "SESSIONJWT_TEST_REDIS")
	admin := dialAdmin(t, "tcp", addr)
	const db, size = 5, 3
	p := sharedPool(redisOptions{network: "tcp", address: addr, db: db, timeout: 2 * time.Second, poolSize: size})
	key := randomID(t)
	admin.do("SELECT", "5")
	admin.do("SET", key, "v", "EX", "60")

	errs := make(chan error, 200)
	concurrently(200, func(i int) {
		if v, err := redisGet(poolStore(p), key, time.Now().Add(p.opts.timeout)); err != nil || string(v) != "v" {
			errs <- err
		}
	})
	close(errs)
	for err := range errs {
		t.Errorf("get under load: %v", err)
	}
	if n := admin.clientsNamed(db); n < 1 || n > size {
		t.Fatalf("redis sees %d pool connections, want 1..%d", n, size)
	}
}

func TestSharedPoolIsPerSettings(t *testing.T) {
	a := redisOptions{network: "tcp", address: "127.0.0.1:1", timeout: time.Second, poolSize: 2}
	b := a
	b.db = 1
	if sharedPool(a) != sharedPool(a) {
		t.Fatal("identical settings got two pools")
	}
	if sharedPool(a) == sharedPool(b) {
		t.Fatal("different databases share a pool")
	}
}

// restartRedis stops the restartable test server with SHUTDOWN NOSAVE; start brings it back.
type restartRedis struct {
	t             *testing.T
	addr, trigger string
}

func (r restartRedis) stop() {
	admin := dialAdmin(r.t, "tcp", r.addr)
	admin.c.expectOK(time.Now().Add(time.Second), "SHUTDOWN", "NOSAVE") // answers by closing the connection
	waitFor(r.t, 5*time.Second, "redis to stop", func() bool {
		c, err := net.DialTimeout("tcp", r.addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
}

func (r restartRedis) start() {
	if err := os.WriteFile(r.trigger, nil, 0o600); err != nil {
		r.t.Fatal(err)
	}
	waitFor(r.t, 5*time.Second, "redis to come back", func() bool {
		c, err := net.DialTimeout("tcp", r.addr, time.Second)
		if err != nil {
			return false
		}
		rc := newRespConn(c)
		defer rc.close()
		return rc.expectOK(time.Now().Add(time.Second), "SET", "up", "1") == nil
	})
}

// Redis restarts between requests: the pool's idle connections are all stale, yet the next request
// succeeds at once, with nothing logged as an outage.
func TestRedisRestartBetweenRequests(t *testing.T) {
	r := restartRedis{t, testEnv(t, "SESSIONJWT_TEST_REDIS_RESTART"), testEnv(t, "SESSIONJWT_TEST_REDIS_RESTART_TRIGGER")}
	buf := captureLog(t)
	p := sharedPool(redisOptions{network: "tcp", address: r.addr, db: 1, timeout: time.Second, poolSize: 4})
	// Fill the pool with several idle connections.
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			redisGet(poolStore(p), "k", time.Now().Add(time.Second))
		}()
	}
	wg.Wait()
	if idleConns(p) < 2 {
		t.Fatalf("only %d idle connections", idleConns(p))
	}
	r.stop()
	r.start()
	key := randomID(t)
	if _, err := p.do(time.Now().Add(time.Second), "SET", key, "after"); err != nil {
		t.Fatalf("first command after a restart failed: %v", err)
	}
	if v, err := redisGet(poolStore(p), key, time.Now().Add(time.Second)); err != nil || string(v) != "after" {
		t.Fatalf("get = %q, %v", v, err)
	}
	if log := buf.String(); log != "" {
		t.Fatalf("a restart between requests was logged as an outage:\n%s", log)
	}
}

// Redis stops under traffic and comes back: requests fail fast meanwhile, succeed again afterwards without
// any restart on our side, and the outage is logged once when it starts and once when it ends.
func TestRedisOutageUnderTraffic(t *testing.T) {
	r := restartRedis{t, testEnv(t, "SESSIONJWT_TEST_REDIS_RESTART"), testEnv(t, "SESSIONJWT_TEST_REDIS_RESTART_TRIGGER")}
	buf := captureLog(t)
	timeout := 300 * time.Millisecond
	p := sharedPool(redisOptions{network: "tcp", address: r.addr, timeout: timeout, poolSize: 4})
	key := randomID(t)
	if _, err := p.do(time.Now().Add(time.Second), "SET", key, "before"); err != nil {
		t.Fatal(err)
	}
	r.stop()
	for i := 0; i < 20; i++ {
		start := time.Now()
		if _, err := redisGet(poolStore(p), key, time.Now().Add(timeout)); err == nil {
			t.Fatal("get succeeded while redis was down")
		}
		if elapsed := time.Since(start); elapsed > timeout+time.Second {
			t.Fatalf("a get took %v while redis was down (redisTimeout %v)", elapsed, timeout)
		}
	}
	r.start()
	if _, err := p.do(time.Now().Add(time.Second), "SET", key, "after"); err != nil {
		t.Fatalf("first command after redis came back failed: %v", err)
	}
	log := buf.String()
	if strings.Count(log, "is unavailable") != 1 || strings.Count(log, "is available again") != 1 {
		t.Fatalf("want one outage line and one recovery line, got:\n%s", log)
	}
}

// Traefik calls New per router and on every reload: all those instances must share one pool.
func TestManyNewCallsShareOnePool(t *testing.T) {
	addr := testEnv(t, "SESSIONJWT_TEST_REDIS")
	admin := dialAdmin(t, "tcp", addr)
	const db, size = 6, 4
	id := randomID(t)
	admin.do("SELECT", strconv.Itoa(db))
	admin.do("SET", id, testJWT, "EX", "60")

	var handlers []http.Handler
	for i := 0; i < 50; i++ {
		h, _ := newTestMiddleware(t, func(c *Config) {
			c.RedisURL = "redis://" + addr + "/" + strconv.Itoa(db)
			c.RedisPoolSize = size
		})
		handlers = append(handlers, h)
	}
	cookie := signedCookie(t, handlers[0], id)
	var failures atomic.Int64
	concurrently(200, func(i int) {
		rec := serve(handlers[i%len(handlers)], requestWithCookie("session_uuid", cookie))
		if rec.Code != http.StatusOK {
			failures.Add(1)
		}
	})
	if failures.Load() != 0 {
		t.Fatalf("%d requests failed", failures.Load())
	}
	if n := admin.clientsNamed(db); n < 1 || n > size {
		t.Fatalf("50 middlewares opened %d connections, want 1..%d", n, size)
	}
}

// Reloads that change Redis settings leave no connections behind: changing only redisTimeout reuses the
// pool, and a pool of replaced settings (here the pool size) closes its connections once idle for
// redisIdleTimeout and is retired; the live pool keeps what its traffic needs.
func TestReloadsLeaveNoConnections(t *testing.T) {
	addr := testEnv(t, "SESSIONJWT_TEST_REDIS")
	admin := dialAdmin(t, "tcp", addr)
	const db = 8
	id := randomID(t)
	admin.do("SELECT", strconv.Itoa(db))
	admin.do("SET", id, testJWT, "EX", "60")
	reload := func(timeout string, size int) http.Handler {
		h, _ := newTestMiddleware(t, func(c *Config) {
			c.RedisURL = "redis://" + addr + "/" + strconv.Itoa(db)
			c.RedisTimeout = timeout
			c.RedisPoolSize = size
			c.RedisIdleTimeout = "300ms"
		})
		cookie := signedCookie(t, h, id)
		concurrently(8, func(i int) { serve(h, requestWithCookie("session_uuid", cookie)) })
		return h
	}
	for i := 0; i < 6; i++ {
		reload(strconv.Itoa(300+i)+"ms", 4)
	}
	if n := admin.clientsNamed(db); n < 1 || n > 4 {
		t.Fatalf("6 reloads changing redisTimeout left %d connections, want 1..4 (one pool)", n)
	}
	var live http.Handler
	for _, size := range []int{3, 2, 3, 1} { // the last 3 reuses the first 3's pool
		live = reload("300ms", size)
	}
	cookie := signedCookie(t, live, id)
	liveMiddleware := live.(*SessionJWT)
	pool := liveMiddleware.store.redis
	replaced := func() int {
		poolsMu.Lock()
		defer poolsMu.Unlock()
		n := 0
		for _, p := range livePools {
			if p != pool && p.opts.address == addr && p.opts.db == db {
				n++
			}
		}
		return n
	}
	waitFor(t, 10*time.Second, "the replaced pools' connections to close and the pools to retire", func() bool {
		serve(live, requestWithCookie("session_uuid", cookie)) // the live configuration's traffic
		return admin.clientsNamed(db) == 1 && replaced() == 0
	})
	poolsMu.Lock()
	retired := pool.retired
	poolsMu.Unlock()
	if retired {
		t.Fatal("the live pool was retired")
	}

	// A middleware idle for long enough sees its pool retired; when traffic comes back, the pool is back
	// on the janitor's list (its connections are swept again) and in pools for the next New.
	waitFor(t, 10*time.Second, "the idle live pool to retire", func() bool {
		poolsMu.Lock()
		defer poolsMu.Unlock()
		return pool.retired
	})
	if rec := serve(live, requestWithCookie("session_uuid", cookie)); rec.Code != http.StatusOK {
		t.Fatalf("after its pool retired: status %d", rec.Code)
	}
	poolsMu.Lock()
	back := !pool.retired && pools[pool.key] == pool
	poolsMu.Unlock()
	if !back {
		t.Error("a retired pool in use again was not adopted back")
	}
	waitFor(t, 10*time.Second, "its connection to close again once idle", func() bool { return admin.clientsNamed(db) == 0 })
}

// Under lookups with short and past deadlines while Redis stops and starts, the pool's count of open
// connections stays exact: once the lookups end, every connection it counts is idle.
func TestPoolCountUnderRestarts(t *testing.T) {
	r := restartRedis{t, testEnv(t, "SESSIONJWT_TEST_REDIS_RESTART"), testEnv(t, "SESSIONJWT_TEST_REDIS_RESTART_TRIGGER")}
	p := sharedPool(redisOptions{network: "tcp", address: r.addr, db: 3, timeout: time.Second, poolSize: 4, idleTimeout: time.Minute})
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go hammer(p, stop, &wg, g)
	}
	for i := 0; i < 4; i++ {
		time.Sleep(100 * time.Millisecond)
		r.stop()
		time.Sleep(150 * time.Millisecond)
		r.start()
	}
	close(stop)
	wg.Wait()
	if open, idle := openConns(p), idleConns(p); open != idle {
		t.Fatalf("%d connections counted open, %d idle, none in use", open, idle)
	}
}

func hammer(p *redisPool, stop chan struct{}, wg *sync.WaitGroup, g int) {
	defer wg.Done()
	r := rand.New(rand.NewSource(int64(g)))
	for {
		select {
		case <-stop:
			return
		default:
		}
		d := time.Duration(r.Intn(3000)) * time.Microsecond
		if r.Intn(10) == 0 {
			d = -time.Millisecond
		}
		redisGet(poolStore(p), "k", time.Now().Add(d))
	}
}
