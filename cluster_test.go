package sessionjwt

import (
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The Cluster of scripts/test-servers.sh: three masters, three replicas, no password.

func clusterNodes(t testing.TB) []string {
	return strings.Split(testEnv(t, "SESSIONJWT_TEST_CLUSTER"), ",")
}

// clusterEdit points a configuration at the test cluster, by two of its six nodes: the others are found.
func clusterEdit(t testing.TB, edit func(*Config)) func(*Config) {
	seeds := clusterNodes(t)[:2]
	return func(c *Config) {
		c.RedisURL = ""
		c.RedisClusterAddresses = seeds
		if edit != nil {
			edit(c)
		}
	}
}

// keyMaster returns a connection to the master that serves key now, found by following MOVED from any
// node, as a cluster client does (not with the code under test).
func keyMaster(t testing.TB, key string) (*adminConn, string) {
	t.Helper()
	addr := clusterNodes(t)[0]
	for i := 0; i < 5; i++ {
		a := dialAdmin(t, "tcp", addr)
		_, err := exchange(a.c, string(appendCommand(nil, []string{"GET", key})), 1, time.Now().Add(2*time.Second))
		re, isReply := err.(redisError)
		if !isReply || !strings.HasPrefix(string(re), "MOVED ") {
			if err != nil && !isReply {
				t.Fatal(err)
			}
			return a, addr
		}
		addr = strings.Fields(string(re))[2]
	}
	t.Fatalf("no master for %q", key)
	return nil, ""
}

// keySlot agrees with the cluster's own CLUSTER KEYSLOT, hash tags included; "123456789" is the CRC16
// check value of the specification.
func TestKeySlot(t *testing.T) {
	if got := keySlot("123456789"); got != 0x31C3 {
		t.Errorf("keySlot(123456789) = %#x, want 0x31c3", got)
	}
	admin := dialAdmin(t, "tcp", clusterNodes(t)[0])
	keys := []string{"", "foo", "{user1000}.following", "{user1000}.followers", "foo{}{bar}", "foo{{bar}}zap",
		"foo{bar}{zap}", "{", "}", "{}", "a{b", "é{ü}", "session:" + randomID(t)}
	for i := 0; i < 50; i++ {
		keys = append(keys, randomID(t)[:i%32+1])
	}
	for _, key := range keys {
		want, _ := admin.do("CLUSTER", "KEYSLOT", key).(int64)
		if got := keySlot(key); int64(got) != want {
			t.Errorf("keySlot(%q) = %d, CLUSTER KEYSLOT says %d", key, got, want)
		}
	}
}

// The store finds every master from two seeds: sessions on all three authenticate, an unknown one is
// unknown (not a store failure), and every master lists our connections by name.
func TestClusterServesSessions(t *testing.T) {
	h, next := newTestMiddleware(t, clusterEdit(t, func(c *Config) { c.Unauthenticated = policyReject }))
	masters := map[string]bool{}
	for i := 0; i < 30; i++ {
		id := randomID(t)
		admin, addr := keyMaster(t, id)
		masters[addr] = true
		admin.do("SET", id, testJWT, "EX", "600")
		if code, got := status(t, h, next, id); code != 200 || got != "Bearer "+testJWT {
			t.Fatalf("session on %s: status %d, Authorization %q; want 200", addr, code, got)
		}
	}
	if len(masters) != 3 {
		t.Errorf("30 sessions landed on %d masters, want 3", len(masters))
	}
	if code, _ := status(t, h, next, randomID(t)); code != http.StatusUnauthorized {
		t.Errorf("unknown session: status %d, want 401", code)
	}
	for addr := range masters {
		if dialAdmin(t, "tcp", addr).clientsNamed(0) == 0 {
			t.Errorf("master %s lists no connection named sessionjwt", addr)
		}
	}
}

// nodeID is the cluster node id of the node at addr.
func nodeID(t testing.TB, addr string) string {
	return replyText(dialAdmin(t, "tcp", addr).do("CLUSTER", "MYID"))
}

// migrateSlot moves slot from one master to another as redis-cli --cluster reshard does, stopping
// after the keys moved when finish is false: the source then answers ASK for them.
func migrateSlot(t testing.TB, slot int, from, to string, finish bool) {
	t.Helper()
	src, dst := dialAdmin(t, "tcp", from), dialAdmin(t, "tcp", to)
	s := strconv.Itoa(slot)
	dst.do("CLUSTER", "SETSLOT", s, "IMPORTING", nodeID(t, from))
	src.do("CLUSTER", "SETSLOT", s, "MIGRATING", nodeID(t, to))
	host, port, _ := net.SplitHostPort(to)
	for {
		keys, _ := src.do("CLUSTER", "GETKEYSINSLOT", s, "100").([]interface{})
		if len(keys) == 0 {
			break
		}
		args := []string{"MIGRATE", host, port, "", "0", "5000", "KEYS"}
		for _, k := range keys {
			args = append(args, replyText(k))
		}
		src.do(args...)
	}
	if finish {
		finishSlot(t, slot, to)
	}
}

// finishSlot assigns slot to the master at to, on every master.
func finishSlot(t testing.TB, slot int, to string) {
	t.Helper()
	id := nodeID(t, to)
	for _, addr := range clusterNodes(t) {
		a := dialAdmin(t, "tcp", addr)
		if roleOf(a) == "master" {
			a.do("CLUSTER", "SETSLOT", strconv.Itoa(slot), "NODE", id)
		}
	}
}

// A slot moved while the store's map still names its old master: the store follows ASK during the
// migration and MOVED after it, and learns the new master.
func TestClusterFollowsMigration(t *testing.T) {
	h, next := newTestMiddleware(t, clusterEdit(t, func(c *Config) { c.Unauthenticated = policyReject }))
	m := h.(*SessionJWT)
	store := m.store
	id := randomID(t)
	src, from := keyMaster(t, id)
	src.do("SET", id, testJWT, "EX", "600")
	if code, _ := status(t, h, next, id); code != 200 {
		t.Fatalf("before the migration: status %d", code)
	}
	var to string
	for _, addr := range clusterNodes(t) {
		if addr != from && roleOf(dialAdmin(t, "tcp", addr)) == "master" {
			to = addr
			break
		}
	}
	slot := keySlot(id)
	t.Cleanup(func() { migrateSlot(t, slot, to, from, true) })

	migrateSlot(t, slot, from, to, false)
	if code, got := status(t, h, next, id); code != 200 || got != "Bearer "+testJWT {
		t.Errorf("during the migration (ASK): status %d, Authorization %q; want 200", code, got)
	}
	finishSlot(t, slot, to)
	if code, got := status(t, h, next, id); code != 200 || got != "Bearer "+testJWT {
		t.Errorf("after the migration (MOVED): status %d, Authorization %q; want 200", code, got)
	}
	store.cluster.mu.Lock()
	learnt := store.cluster.slots[slot].opts.address
	store.cluster.mu.Unlock()
	if learnt != to {
		t.Errorf("the slot map names %s for the moved slot, want %s", learnt, to)
	}
}

// A planned failover of a master (CLUSTER FAILOVER on its replica): requests keep authenticating, and
// the cache's invalidation channel moves to the new master itself (the demoted one, which replicates
// it, would report its changes too, a replication lag later).
func TestClusterFollowsFailover(t *testing.T) {
	h, next, c := trackedMiddleware(t, clusterEdit(t, nil))
	id := randomID(t)
	admin, master := keyMaster(t, id)
	admin.do("SET", id, testJWT, "EX", "600")
	waitFor(t, 2*time.Second, "the session to be cached", func() bool { status(t, h, next, id); return cached(c, id) })

	var replica string
	for _, addr := range clusterNodes(t) {
		info, _ := dialAdmin(t, "tcp", addr).do("INFO", "replication").([]byte)
		_, port, _ := net.SplitHostPort(master)
		if strings.Contains(string(info), "role:slave") && strings.Contains(string(info), "master_port:"+port+"\r\n") {
			replica = addr
		}
	}
	if replica == "" {
		t.Fatalf("no replica of %s", master)
	}
	dialAdmin(t, "tcp", replica).do("CLUSTER", "FAILOVER")
	waitFor(t, 10*time.Second, "the replica to take over", func() bool {
		_, now := keyMaster(t, id)
		return now == replica
	})
	// A session the cache does not hold meets the old map: MOVED (once the old master knows it is one no
	// more), and the map is read again.
	other := randomID(t)
	for _, on := keyMaster(t, other); on != replica; _, on = keyMaster(t, other) {
		other = randomID(t)
	}
	waitFor(t, 5*time.Second, "requests to authenticate on the new master", func() bool {
		if code, _ := status(t, h, next, other); code != http.StatusUnauthorized {
			t.Fatalf("an unknown session on the new master: status %d, want 401", code)
		}
		code, got := status(t, h, next, id)
		return code == 200 && got == "Bearer "+testJWT && cached(c, id) &&
			len(clientIDs(dialAdmin(t, "tcp", replica), "sessionjwt-invalidation")) == 1
	})
	dialAdmin(t, "tcp", replica).do("DEL", id)
	waitFor(t, 2*time.Second, "the logout on the new master to reach the cache", func() bool { return !cached(c, id) })
	if code, _ := status(t, h, next, id); code != http.StatusUnauthorized {
		t.Errorf("after the logout: status %d, want 401", code)
	}
}

// No seed answers: the redisFailure policy, within the deadline.
func TestClusterUnreachable(t *testing.T) {
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := closed.Addr().String()
	closed.Close()
	log := captureLog(t)
	h, next := newTestMiddleware(t, func(c *Config) { c.RedisURL = ""; c.RedisClusterAddresses = []string{addr} })
	if code, _ := status(t, h, next, randomID(t)); code != http.StatusServiceUnavailable {
		t.Errorf("status %d, want 503", code)
	}
	if !strings.Contains(log.String(), "unavailable") {
		t.Errorf("the outage is not logged:\n%s", log)
	}
}

// The slot map reads the same from CLUSTER SHARDS and CLUSTER SLOTS, and covers every slot.
func TestReadSlotMap(t *testing.T) {
	addr := clusterNodes(t)[0]
	p := sharedPool(redisOptions{network: "tcp", address: addr, timeout: time.Second, poolSize: 1, idleTimeout: time.Minute})
	host, _, _ := net.SplitHostPort(addr)
	shards, err := readSlotMap(p, addr, time.Now().Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	reply, err := p.do(time.Now().Add(time.Second), "CLUSTER", "SLOTS")
	if err != nil {
		t.Fatal(err)
	}
	slots, err := parseSlots(reply, host)
	if err != nil {
		t.Fatal(err)
	}
	covered := func(ranges []slotRange) map[int]string {
		m := map[int]string{}
		for _, r := range ranges {
			for s := r.first; s <= r.last; s++ {
				m[s] = r.master
			}
		}
		return m
	}
	a, b := covered(shards), covered(slots)
	if len(a) != clusterSlots || len(b) != clusterSlots {
		t.Fatalf("SHARDS covers %d slots, SLOTS %d; want %d", len(a), len(b), clusterSlots)
	}
	for s := 0; s < clusterSlots; s++ {
		if a[s] != b[s] {
			t.Fatalf("slot %d: SHARDS says %s, SLOTS %s", s, a[s], b[s])
		}
	}
}

func TestRedirection(t *testing.T) {
	tests := []struct {
		reply     interface{}
		err       error
		replies   int
		kind, arg string
	}{
		{nil, redisError("MOVED 3999 127.0.0.1:6381"), 1, "MOVED", "127.0.0.1:6381"},
		{nil, redisError("ASK 3999 127.0.0.1:6381"), 1, "ASK", "127.0.0.1:6381"},
		{[]interface{}{redisError("MOVED 1 h:1"), redisError("MOVED 1 h:1")}, nil, 2, "MOVED", "h:1"},
		{nil, redisError("TRYAGAIN Multiple keys request during rehashing of slot"), 1, "TRYAGAIN", ""},
		{nil, redisError("CLUSTERDOWN The cluster is down"), 1, "CLUSTERDOWN", ""},
		{nil, redisError("WRONGTYPE Operation against a key"), 1, "", ""},
		{nil, redisError("MOVED"), 1, "", ""},
		{[]byte("v"), nil, 1, "", ""},
	}
	for _, tt := range tests {
		kind, arg := redirection(tt.reply, tt.err, tt.replies)
		if kind != tt.kind || arg != tt.arg {
			t.Errorf("redirection(%v, %v) = %q, %q; want %q, %q", tt.reply, tt.err, kind, arg, tt.kind, tt.arg)
		}
	}
}

// A cluster no lookup used for redisIdleTimeout leaves the shared list with its slot map; a used one stays.
func TestUnusedClusterIsDropped(t *testing.T) {
	h, next := newTestMiddleware(t, clusterEdit(t, func(c *Config) { c.RedisIdleTimeout = "1m" }))
	m := h.(*SessionJWT)
	c := m.store.cluster
	status(t, h, next, randomID(t))
	registered := func() bool {
		clustersMu.Lock()
		defer clustersMu.Unlock()
		return clusters[c.key] == c
	}
	sweepClusters(time.Now().Add(30 * time.Second))
	if !registered() {
		t.Fatal("a cluster used 30 s ago was dropped (redisIdleTimeout 1m)")
	}
	sweepClusters(time.Now().Add(61 * time.Second))
	if registered() {
		t.Fatal("a cluster unused for redisIdleTimeout was kept")
	}
	if code, _ := status(t, h, next, randomID(t)); code != http.StatusOK {
		t.Errorf("the middleware holding the dropped cluster: status %d, want 200 (strip)", code)
	}
}
