package sessionjwt

import (
	"os"
	"strings"
	"sync"
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
		opts, err := parseRedisURL(tt.url)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		opts.timeout = 2 * time.Second
		opts.poolSize = 2
		if tt.caFile != "" {
			pem, err := os.ReadFile(tt.caFile)
			if err != nil {
				t.Fatal(err)
			}
			if err := opts.setCA(pem); err != nil {
				t.Fatal(err)
			}
		}
		p := sharedPool(opts)
		key, value := randomID(t), "jwt-"+tt.name
		// Write through the pool itself where no admin connection fits (TLS): SET is a plain command.
		if tt.admin == nil {
			if _, err := p.do(time.Now().Add(2*time.Second), "SET", key, value); err != nil {
				t.Fatalf("%s: SET: %v", tt.name, err)
			}
		} else {
			a := tt.admin(t)
			a.do("SELECT", tt.db)
			a.do("SET", key, value, "EX", "60")
		}
		got, err := p.get(key)
		if err != nil || string(got) != value {
			t.Errorf("%s: get = %q, %v; want %q", tt.name, got, err, value)
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
		opts, err := parseRedisURL(tt.url)
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
		_, err = p.get("k")
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("%s: err = %v, want one containing %q", tt.name, err, tt.wantErr)
		}
		if len(p.slots) != 0 {
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

	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if v, err := p.get(key); err != nil || string(v) != "v" {
				errs <- err
			}
		}()
	}
	wg.Wait()
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

// Redis stops under traffic and comes back: requests fail fast meanwhile, succeed again afterwards without
// any restart on our side, and the outage is logged once when it starts and once when it ends.
func TestRedisRestart(t *testing.T) {
	addr := testEnv(t, "SESSIONJWT_TEST_REDIS_RESTART")
	trigger := testEnv(t, "SESSIONJWT_TEST_REDIS_RESTART_TRIGGER")
	buf := captureLog(t)
	timeout := 300 * time.Millisecond
	p := sharedPool(redisOptions{network: "tcp", address: addr, timeout: timeout, poolSize: 4})
	key := randomID(t)
	if _, err := p.do(time.Now().Add(time.Second), "SET", key, "before"); err != nil {
		t.Fatal(err)
	}
	if v, err := p.get(key); err != nil || string(v) != "before" {
		t.Fatalf("get = %q, %v", v, err)
	}

	admin := dialAdmin(t, "tcp", addr)
	admin.c.do(time.Now().Add(time.Second), "SHUTDOWN", "NOSAVE") // answers by closing the connection
	waitFor(t, 5*time.Second, "redis to stop", func() bool {
		_, err := p.get(key)
		return err != nil
	})
	for i := 0; i < 20; i++ {
		start := time.Now()
		if _, err := p.get(key); err == nil {
			t.Fatal("get succeeded while redis was down")
		}
		if elapsed := time.Since(start); elapsed > timeout+time.Second {
			t.Fatalf("a get took %v while redis was down (redisTimeout %v)", elapsed, timeout)
		}
	}

	if err := os.WriteFile(trigger, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "redis to come back", func() bool {
		_, err := p.get(key)
		return err == nil
	})
	log := buf.String()
	if strings.Count(log, "is unavailable") != 1 || strings.Count(log, "is available again") != 1 {
		t.Fatalf("want one outage line and one recovery line, got:\n%s", log)
	}
}
