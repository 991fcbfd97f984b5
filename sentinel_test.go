package sessionjwt

import (
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The Sentinel set of scripts/test-servers.sh: master "sjmaster" and one replica, whose password is
// data-pass, watched by three sentinels whose password is sentinel-pass.

// sentinelEdit points a configuration at the test Sentinel set: the data nodes' password in redisURL,
// the sentinels' in a file.
func sentinelEdit(t testing.TB, edit func(*Config)) func(*Config) {
	sentinels := strings.Split(testEnv(t, "SESSIONJWT_TEST_SENTINELS"), ",")
	passwordFile := filepath.Join(t.TempDir(), "sentinel-password")
	if err := os.WriteFile(passwordFile, []byte(testEnv(t, "SESSIONJWT_TEST_SENTINEL_PASSWORD")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return func(c *Config) {
		c.RedisURL = "redis://:" + testEnv(t, "SESSIONJWT_TEST_SENTINEL_DATA_PASSWORD") + "@/0"
		c.RedisSentinelAddresses = sentinels
		c.RedisSentinelMasterName = testEnv(t, "SESSIONJWT_TEST_SENTINEL_MASTER")
		c.RedisSentinelPasswordFile = passwordFile
		if edit != nil {
			edit(c)
		}
	}
}

// sentinelAdmin is a connection to the first test sentinel.
func sentinelAdmin(t testing.TB) *adminConn {
	first := strings.Split(testEnv(t, "SESSIONJWT_TEST_SENTINELS"), ",")[0]
	return dialAdmin(t, "tcp", first, testEnv(t, "SESSIONJWT_TEST_SENTINEL_PASSWORD"))
}

// namedMaster is the master's address as the first sentinel names it.
func namedMaster(t testing.TB) string {
	pair, _ := sentinelAdmin(t).do("SENTINEL", "get-master-addr-by-name", testEnv(t, "SESSIONJWT_TEST_SENTINEL_MASTER")).([]interface{})
	if len(pair) != 2 {
		t.Fatalf("the sentinel names no master: %v", pair)
	}
	return net.JoinHostPort(replyText(pair[0]), replyText(pair[1]))
}

func dataAdmin(t testing.TB, addr string) *adminConn {
	return dialAdmin(t, "tcp", addr, testEnv(t, "SESSIONJWT_TEST_SENTINEL_DATA_PASSWORD"))
}

func roleOf(a *adminConn) string {
	role, _ := a.do("ROLE").([]interface{})
	if len(role) == 0 {
		return ""
	}
	return replyText(role[0])
}

// sentinelFailover makes the sentinels promote the replica and returns the new master once every
// sentinel names it, it says ROLE master itself, and the old master replicates it. SENTINEL FAILOVER is
// retried while the sentinels find no good replica (as right after start), and the whole failover when
// it aborts: a sentinel that has not heard of the promotion yet may turn the promoted replica back, a
// race of failovers seconds apart, as tests make them.
func sentinelFailover(t testing.TB) string {
	t.Helper()
	old := namedMaster(t)
	for attempt := 0; attempt < 4; attempt++ {
		s := sentinelAdmin(t)
		waitFor(t, 20*time.Second, "SENTINEL FAILOVER to be accepted", func() bool {
			_, err := exchange(s.c, string(appendCommand(nil, []string{"SENTINEL", "FAILOVER", testEnv(t, "SESSIONJWT_TEST_SENTINEL_MASTER")})), 1, time.Now().Add(2*time.Second))
			return err == nil
		})
		if now := newMaster(t, old, 10*time.Second); now != "" {
			waitFor(t, 20*time.Second, "the old master to replicate the new one", func() bool {
				info, _ := dataAdmin(t, now).do("INFO", "replication").([]byte)
				return strings.Contains(string(info), "state=online")
			})
			return now
		}
	}
	t.Fatal("four failovers did not give the set a new master")
	return ""
}

// newMaster waits until every sentinel names a master other than old that says ROLE master, and returns
// it; "" when that did not happen within limit.
func newMaster(t testing.TB, old string, limit time.Duration) string {
	for end := time.Now().Add(limit); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		named := map[string]bool{}
		for _, addr := range strings.Split(testEnv(t, "SESSIONJWT_TEST_SENTINELS"), ",") {
			s := dialAdmin(t, "tcp", addr, testEnv(t, "SESSIONJWT_TEST_SENTINEL_PASSWORD"))
			pair, _ := s.do("SENTINEL", "get-master-addr-by-name", testEnv(t, "SESSIONJWT_TEST_SENTINEL_MASTER")).([]interface{})
			if len(pair) == 2 {
				named[net.JoinHostPort(replyText(pair[0]), replyText(pair[1]))] = true
			}
		}
		for now := range named {
			if len(named) == 1 && now != old && roleOf(dataAdmin(t, now)) == "master" {
				return now
			}
		}
	}
	return ""
}

// Through the sentinels the store finds the master: sessions authenticate, connections carry our name,
// an unknown session is unknown (not a store failure).
func TestSentinelServesSessions(t *testing.T) {
	h, next := newTestMiddleware(t, sentinelEdit(t, func(c *Config) { c.Unauthenticated = policyReject }))
	master := dataAdmin(t, namedMaster(t))
	id := randomID(t)
	master.do("SET", id, testJWT, "EX", "600")
	if code, got := status(t, h, next, id); code != 200 || got != "Bearer "+testJWT {
		t.Fatalf("status %d, Authorization %q; want 200, Bearer %s", code, got, testJWT)
	}
	if code, _ := status(t, h, next, randomID(t)); code != http.StatusUnauthorized {
		t.Errorf("unknown session: status %d, want 401", code)
	}
	if master.clientsNamed(0) == 0 {
		t.Error("the master lists no connection named sessionjwt")
	}
}

// A planned failover: requests keep authenticating, on the new master, and the cache's invalidation
// follows it (a logout on the new master reaches the cache).
func TestSentinelFollowsFailover(t *testing.T) {
	h, next, c := trackedMiddleware(t, sentinelEdit(t, nil))
	m := h.(*SessionJWT)
	store := m.store
	id := cachedSession(t, h, next, c, dataAdmin(t, namedMaster(t)), testJWT)

	now := sentinelFailover(t)
	// The watcher hears +switch-master: the store follows before any request fails.
	waitFor(t, 2*time.Second, "+switch-master to reach the store", func() bool {
		store.sentinel.mu.Lock()
		defer store.sentinel.mu.Unlock()
		return store.sentinel.addr == now
	})
	waitFor(t, 5*time.Second, "the store to follow the new master", func() bool {
		code, got := status(t, h, next, id)
		if code != 200 || got != "Bearer "+testJWT {
			return false
		}
		store.sentinel.mu.Lock()
		defer store.sentinel.mu.Unlock()
		return store.sentinel.addr == now
	})
	waitFor(t, 5*time.Second, "the cache to serve again", func() bool { status(t, h, next, id); return cached(c, id) })
	// The channel is on the new master itself, not on the demoted one that replicates it.
	waitFor(t, 2*time.Second, "the invalidation channel on the new master", func() bool {
		return len(clientIDs(dataAdmin(t, now), "sessionjwt-invalidation")) == 1
	})
	dataAdmin(t, now).do("DEL", id)
	waitFor(t, 2*time.Second, "the logout on the new master to reach the cache", func() bool { return !cached(c, id) })
	if code, _ := status(t, h, next, id); code != http.StatusUnauthorized {
		t.Errorf("after the logout: status %d, want 401", code)
	}
}

// A master the sentinels no longer name (here: the replica, as a demoted master is) is left at the first
// lookup that fails on it: the sentinels are asked, and the lookup succeeds on the master they name.
func TestSentinelLeavesDemotedMaster(t *testing.T) {
	h, next := newTestMiddleware(t, sentinelEdit(t, nil))
	m := h.(*SessionJWT)
	s := m.store.sentinel
	master := namedMaster(t)
	var replica string
	for _, addr := range strings.Split(testEnv(t, "SESSIONJWT_TEST_SENTINEL_NODES"), ",") {
		if addr != master {
			replica = addr
		}
	}
	id := randomID(t)
	dataAdmin(t, master).do("SET", id, testJWT, "EX", "600")
	s.mu.Lock()
	s.watching = true // no watcher: this is about the lookup's own recovery
	s.pool = sharedPool(s.data.at(replica))
	s.addr = replica
	s.asked.Store(0) // no lookup of the master just before
	s.mu.Unlock()
	t.Cleanup(func() {
		s.mu.Lock()
		s.watching = false
		s.mu.Unlock()
	})
	if code, got := status(t, h, next, id); code != 200 || got != "Bearer "+testJWT {
		t.Errorf("status %d, Authorization %q; want 200", code, got)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.addr != master {
		t.Errorf("the store reads %s, want the master %s", s.addr, master)
	}
}

// A node that is not a master is refused when dialed for a Sentinel master, even when it answers.
func TestSentinelMasterMustSayMaster(t *testing.T) {
	nodes := strings.Split(testEnv(t, "SESSIONJWT_TEST_SENTINEL_NODES"), ",")
	for _, addr := range nodes {
		o := redisOptions{network: "tcp", address: addr, password: testEnv(t, "SESSIONJWT_TEST_SENTINEL_DATA_PASSWORD"), wantMaster: true}
		c, err := o.dial(time.Now().Add(2*time.Second), "sessionjwt")
		role := roleOf(dataAdmin(t, addr))
		if role == "master" && err != nil {
			t.Errorf("%s (ROLE master): dial failed: %v", addr, err)
		}
		if role != "master" && (err == nil || !strings.Contains(err.Error(), "not a master")) {
			t.Errorf("%s (ROLE %s): dial err = %v, want not a master", addr, role, err)
		}
		if c != nil {
			c.close()
		}
	}
}

// Sentinels that do not answer: tried in turn, each within its share of redisTimeout; a sentinel that
// never answers does not hold the lookup past it, and when none names the master the request gets the
// redisFailure policy (503), logged once, without the password.
func TestSentinelsUnreachable(t *testing.T) {
	silent, err := net.Listen("tcp", "127.0.0.1:0") // accepts, never answers
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { silent.Close() })
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := closed.Addr().String()
	closed.Close()

	// The silent one first: the real sentinels behind it still answer within the deadline.
	real := strings.Split(testEnv(t, "SESSIONJWT_TEST_SENTINELS"), ",")
	h, next := newTestMiddleware(t, sentinelEdit(t, func(c *Config) {
		c.RedisSentinelAddresses = append([]string{silent.Addr().String(), closedAddr}, real...)
		c.RedisTimeout = "1s"
	}))
	master := dataAdmin(t, namedMaster(t))
	id := randomID(t)
	master.do("SET", id, testJWT, "EX", "600")
	if code, got := status(t, h, next, id); code != 200 || got != "Bearer "+testJWT {
		t.Errorf("behind a silent sentinel: status %d, Authorization %q; want 200", code, got)
	}

	log := captureLog(t)
	h, next = newTestMiddleware(t, sentinelEdit(t, func(c *Config) {
		c.RedisSentinelAddresses = []string{silent.Addr().String(), closedAddr}
		c.RedisSentinelMasterName = "unreachable"
		c.RedisTimeout = "300ms"
	}))
	for i := 0; i < 3; i++ {
		start := time.Now()
		code, _ := status(t, h, next, id)
		if code != http.StatusServiceUnavailable {
			t.Errorf("no sentinel answers: status %d, want 503", code)
		}
		if took := time.Since(start); took > 3*time.Second {
			t.Errorf("no sentinel answers: the request hung for %v", took) // a hang, not a speed bound
		}
	}
	if n := strings.Count(log.String(), "none of the 2 sentinels named master \"unreachable\""); n != 1 {
		t.Errorf("the outage was logged %d times, want once:\n%s", n, log)
	}
	if strings.Contains(log.String(), testEnv(t, "SESSIONJWT_TEST_SENTINEL_PASSWORD")) {
		t.Error("the log shows the sentinel password")
	}
}

// A sentinel that refuses the password or does not know the master: a store failure, said in the log.
func TestSentinelRefuses(t *testing.T) {
	tests := []struct {
		name, master, password, wantLog string
	}{
		{"wrong password", "", "not-the-password", "WRONGPASS"},
		{"unknown master", "no-such-master", "", "does not monitor a master named \"no-such-master\""},
	}
	for _, tt := range tests {
		log := captureLog(t)
		h, next := newTestMiddleware(t, sentinelEdit(t, func(c *Config) {
			c.RedisSentinelAddresses = c.RedisSentinelAddresses[:1]
			if tt.master != "" {
				c.RedisSentinelMasterName = tt.master
			}
			if tt.password != "" {
				file := filepath.Join(t.TempDir(), "pw")
				os.WriteFile(file, []byte(tt.password), 0o600)
				c.RedisSentinelPasswordFile = file
			}
		}))
		if code, _ := status(t, h, next, randomID(t)); code != http.StatusServiceUnavailable {
			t.Errorf("%s: status %d, want 503", tt.name, code)
		}
		if !strings.Contains(log.String(), tt.wantLog) {
			t.Errorf("%s: the log does not say %q:\n%s", tt.name, tt.wantLog, log)
		}
		if tt.password != "" && strings.Contains(log.String(), tt.password) {
			t.Errorf("%s: the log shows the password", tt.name)
		}
	}
}

func TestSwitchMessage(t *testing.T) {
	tests := []struct {
		reply interface{}
		want  string
	}{
		{[]interface{}{[]byte("message"), []byte("+switch-master"), []byte("m 127.0.0.1 1 127.0.0.1 2")}, "m 127.0.0.1 1 127.0.0.1 2"},
		{[]interface{}{[]byte("pong"), []byte("")}, ""},
		{[]interface{}{[]byte("subscribe"), []byte("+switch-master"), int64(1)}, ""},
		{"OK", ""},
	}
	for _, tt := range tests {
		if got := strings.Join(switchMessage(tt.reply), " "); got != tt.want {
			t.Errorf("switchMessage(%v) = %q, want %q", tt.reply, got, tt.want)
		}
	}
}

// The watcher of a set no lookup used for redisIdleTimeout stops, and the set leaves the shared list; the
// middleware that holds it starts it again at its next request.
func TestUnusedSentinelWatcherStops(t *testing.T) {
	h, next := newTestMiddleware(t, sentinelEdit(t, func(c *Config) { c.RedisIdleTimeout = "1s" }))
	m := h.(*SessionJWT)
	s := m.store.sentinel
	watching := func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.watching
	}
	status(t, h, next, randomID(t))
	if !watching() {
		t.Fatal("no watcher after the first request")
	}
	waitFor(t, 5*time.Second, "the unused set's watcher to stop", func() bool { return !watching() })
	sentinelSetsMu.Lock()
	kept := sentinelSets[s.key] == s
	sentinelSetsMu.Unlock()
	if kept {
		t.Error("the unused set is still shared")
	}
	if code, _ := status(t, h, next, randomID(t)); code != http.StatusOK || !watching() {
		t.Errorf("the next request: status %d, watching %v; want 200 and a watcher again", code, watching())
	}
}
