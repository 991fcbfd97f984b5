package e2e

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Redis Sentinel and Cluster under load through Traefik: a master killed (SIGKILL), a planned failover,
// slots moved while serving. Each fault is measured: requests answered 503 during the window, any other
// answer (a wrong session's JWT, a 401 for a known session, a transport error), the longest request, and
// the time from the new master's promotion to the first success. The figures are logged and appended to
// $SESSIONJWT_HA_REPORT when set (make bench writes them to BENCHMARKS.md); the test asserts only what is
// correctness: no wrong answer, no request past redisTimeout plus a margin, recovery at all.

const (
	haTimeout = 500 * time.Millisecond // the HA routers' redisTimeout
	haMargin  = time.Second            // a loaded 2-core machine's slack beyond it
	haClients = 8
	haKeys    = 300
)

// haServers is a Sentinel set or a Cluster started by scripts/test-servers.sh in dir.
type haServers struct {
	dir string
	env map[string]string
}

func startHAServers(t *testing.T, what string) *haServers {
	t.Helper()
	dir := filepath.Join(h.dir, what)
	if out, err := exec.Command("../scripts/test-servers.sh", "start-"+what, dir).CombinedOutput(); err != nil {
		t.Fatalf("test-servers.sh start-%s: %v: %s", what, err, out)
	}
	t.Cleanup(func() { exec.Command("../scripts/test-servers.sh", "stop", dir).Run() })
	raw, err := os.ReadFile(filepath.Join(dir, "env"))
	if err != nil {
		t.Fatal(err)
	}
	s := &haServers{dir: dir, env: map[string]string{}}
	for _, line := range strings.Split(string(raw), "\n") {
		if kv := strings.SplitN(strings.TrimPrefix(line, "export "), "=", 2); len(kv) == 2 {
			s.env[kv[0]] = kv[1]
		}
	}
	return s
}

// kill sends SIGKILL to the server named name (its directory under dir).
func (s *haServers) kill(t *testing.T, name string) {
	raw, err := os.ReadFile(filepath.Join(s.dir, name, "redis.pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
}

func (s *haServers) restart(t *testing.T, name string) {
	if out, err := exec.Command("../scripts/test-servers.sh", "restart-node", s.dir, name).CombinedOutput(); err != nil {
		t.Fatalf("restart-node %s: %v: %s", name, err, out)
	}
}

// respDo runs one command on a fresh connection to addr (after AUTH when password is set) and returns
// the reply: a bulk string's contents, an array's elements joined by spaces, any other reply's line; an
// error reply is the error.
func respDo(addr, password string, args ...string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(3 * time.Second))
	br := bufio.NewReader(c)
	if password != "" {
		if _, err := respCommand(c, br, "AUTH", password); err != nil {
			return "", err
		}
	}
	return respCommand(c, br, args...)
}

func respCommand(c net.Conn, br *bufio.Reader, args ...string) (string, error) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := c.Write(b.Bytes()); err != nil {
		return "", err
	}
	line, err := br.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimSpace(line)
	switch {
	case strings.HasPrefix(line, "-"):
		return "", fmt.Errorf("%s", line[1:])
	case strings.HasPrefix(line, "$"):
		n, _ := strconv.Atoi(line[1:])
		if n < 0 {
			return "", nil
		}
		buf := make([]byte, n+2)
		_, err := io.ReadFull(br, buf)
		return string(buf[:n]), err
	case strings.HasPrefix(line, "*"):
		return respArray(br, line)
	}
	return line, nil
}

// respArray reads the elements of the array whose header is line, nested ones included, joined by
// spaces: enough to look for a word in ROLE, SENTINEL REPLICAS or an address pair.
func respArray(br *bufio.Reader, line string) (string, error) {
	n, _ := strconv.Atoi(line[1:])
	var parts []string
	for i := 0; i < n; i++ {
		next, err := br.ReadString('\n')
		if err != nil {
			return "", err
		}
		next = strings.TrimSpace(next)
		var v string
		switch next[0] {
		case '$':
			size, _ := strconv.Atoi(next[1:])
			if size >= 0 {
				buf := make([]byte, size+2)
				if _, err := io.ReadFull(br, buf); err != nil {
					return "", err
				}
				v = string(buf[:size])
			}
		case '*':
			if v, err = respArray(br, next); err != nil {
				return "", err
			}
		default:
			v = next[1:]
		}
		parts = append(parts, v)
	}
	return strings.Join(parts, " "), nil
}

// clusterSet stores key in the cluster at seed, following MOVED as a cluster client does.
func clusterSet(t *testing.T, seed string, args ...string) string {
	addr := seed
	for i := 0; i < 5; i++ {
		_, err := respDo(addr, "", args...)
		if err == nil {
			return addr
		}
		f := strings.Fields(err.Error())
		if len(f) != 3 || f[0] != "MOVED" {
			t.Fatal(err)
		}
		addr = f[2]
	}
	t.Fatalf("no master took %s", args[1])
	return ""
}

// haSession is one session of the load: its cookie, its JWT, and the master that holds it.
type haSession struct {
	cookie, jwt, master string
}

// haSessions stores n sessions with store (which returns the master that took the key) and signs their
// cookies with one run of the real itsdangerous.
func haSessions(t *testing.T, n int, store func(id, jwt string) string) []haSession {
	ids := make([]string, n)
	sessions := make([]haSession, n)
	for i := range ids {
		b := make([]byte, 16)
		rand.Read(b)
		ids[i] = hex.EncodeToString(b)
		sessions[i].jwt = makeJWT(`{"sub":"ha-` + ids[i] + `"}`)
		sessions[i].master = store(ids[i], sessions[i].jwt)
	}
	cmd := exec.Command("/usr/bin/python3", "-c", "import hashlib, sys\nfrom itsdangerous import Signer\n"+
		"s = Signer(sys.argv[1], digest_method=hashlib.sha256)\n"+
		"for line in sys.stdin.read().split():\n    print(s.sign(line).decode())", secret)
	cmd.Stdin = strings.NewReader(strings.Join(ids, "\n"))
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("itsdangerous: %v", err)
	}
	cookies := strings.Fields(string(out))
	if len(cookies) != n {
		t.Fatalf("itsdangerous signed %d of %d", len(cookies), n)
	}
	for i := range sessions {
		sessions[i].cookie = cookies[i]
	}
	return sessions
}

// haOutcome is one request of the load.
type haOutcome struct {
	start, end time.Time
	session    int
	status     int  // 0: transport error
	wrong      bool // 200 with another JWT than the session's
}

type haLoad struct {
	mu       sync.Mutex
	outcomes []haOutcome
	stop     chan struct{}
	wg       sync.WaitGroup
}

// startHALoad sends requests for the sessions, round robin, from haClients clients until finish.
func startHALoad(path string, sessions []haSession) *haLoad {
	l := &haLoad{stop: make(chan struct{})}
	for i := 0; i < haClients; i++ {
		l.wg.Add(1)
		go l.client(i, path, sessions)
	}
	return l
}

func (l *haLoad) client(i int, path string, sessions []haSession) {
	defer l.wg.Done()
	c := &http.Client{Timeout: 10 * time.Second}
	for k := i; ; k += haClients {
		select {
		case <-l.stop:
			return
		default:
		}
		n := k % len(sessions)
		req, _ := http.NewRequest(http.MethodGet, h.web+path, nil)
		req.AddCookie(&http.Cookie{Name: "session_uuid", Value: sessions[n].cookie})
		o := haOutcome{start: time.Now(), session: n}
		res, err := c.Do(req)
		if err == nil {
			o.status = res.StatusCode
			if res.StatusCode == http.StatusOK {
				var hdr http.Header
				json.NewDecoder(res.Body).Decode(&hdr)
				o.wrong = hdr.Get("Authorization") != "Bearer "+sessions[n].jwt
			}
			res.Body.Close()
		}
		o.end = time.Now()
		l.mu.Lock()
		l.outcomes = append(l.outcomes, o)
		l.mu.Unlock()
	}
}

func (l *haLoad) finish() []haOutcome {
	close(l.stop)
	l.wg.Wait()
	return l.outcomes
}

// haFigures are the measurements of one fault.
type haFigures struct {
	requests, ok, unavailable, other, wrong int
	longest                                 time.Duration
	longestAt                               time.Duration // when it started, from the fault
	recovery                                time.Duration // promotion to the first success of an affected session; -1: none
}

// measure reads the outcomes since from: affected says which sessions the fault concerns, promoted is
// when the new master took over (zero: no promotion, as for a reshard).
func measure(outcomes []haOutcome, from, promoted time.Time, affected func(session int) bool) haFigures {
	f := haFigures{recovery: -1}
	for _, o := range outcomes {
		if o.end.Before(from) {
			continue
		}
		f.requests++
		switch {
		case o.wrong:
			f.wrong++
		case o.status == http.StatusOK:
			f.ok++
		case o.status == http.StatusServiceUnavailable:
			f.unavailable++
		default:
			f.other++
		}
		if d := o.end.Sub(o.start); d > f.longest {
			f.longest = d
			f.longestAt = o.start.Sub(from)
		}
		if !promoted.IsZero() && o.status == http.StatusOK && !o.wrong && !o.start.Before(promoted) && affected(o.session) {
			if d := o.end.Sub(promoted); f.recovery < 0 || d < f.recovery {
				f.recovery = d
			}
		}
	}
	return f
}

// check reports f and fails the test on what must never happen.
func check(t *testing.T, what string, f haFigures, wantPromotion bool) {
	t.Helper()
	rec := "no promotion"
	if wantPromotion {
		rec = fmt.Sprintf("promotion to first success %.0f ms", ms(f.recovery))
	}
	line := fmt.Sprintf("%s: %d requests, %d answered 503, %d otherwise wrong, %d with another session's JWT, "+
		"longest %.0f ms (redisTimeout %v), %s", what, f.requests, f.unavailable, f.other, f.wrong, ms(f.longest), haTimeout, rec)
	t.Log(line)
	if path := os.Getenv("SESSIONJWT_HA_REPORT"); path != "" {
		if file, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644); err == nil {
			fmt.Fprintln(file, line)
			file.Close()
		}
	}
	if f.wrong != 0 || f.other != 0 {
		t.Errorf("%s: %d answers with another session's JWT, %d neither the swap nor 503", what, f.wrong, f.other)
	}
	if f.longest > haTimeout+haMargin {
		t.Errorf("%s: a request took %v, past redisTimeout %v and a margin of %v (it started %v after the fault)",
			what, f.longest, haTimeout, haMargin, f.longestAt)
	}
	if wantPromotion && f.recovery < 0 {
		t.Errorf("%s: no session succeeded after the promotion", what)
	}
	if f.ok == 0 {
		t.Errorf("%s: no request succeeded", what)
	}
}

// writeHARouters adds the HA routers to Traefik's dynamic configuration (a file of their own in the
// watched directory) and waits until they serve.
func writeHARouters(t *testing.T, yaml string, paths ...string) {
	t.Helper()
	path := filepath.Join(filepath.Dir(h.dynamicPath), "ha.yml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(path) })
	deadline := time.Now().Add(20 * time.Second)
	for _, p := range paths {
		for {
			res, err := http.Get(h.web + p)
			if err == nil {
				res.Body.Close()
				if res.StatusCode != http.StatusNotFound {
					break
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("Traefik does not serve %s; log:\n%s", p, h.log())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// haRouter is a router and its sessionjwt middleware reading Redis through keys.
func haRouter(name, keys string) string {
	return fmt.Sprintf(`    %[1]s:
      rule: PathPrefix(`+"`/%[1]s`"+`)
      service: ha-backend
      middlewares: [%[1]s]
`, name) + "\x00" + fmt.Sprintf(`    %[1]s:
      plugin:
        sessionjwt:
          secretKey: %[2]s
          unauthenticated: reject
          redisTimeout: %[3]s
%[4]s`, name, secret, haTimeout, keys)
}

func haDynamic(routers ...string) string {
	var r, m strings.Builder
	for _, x := range routers {
		parts := strings.SplitN(x, "\x00", 2)
		r.WriteString(parts[0])
		m.WriteString(parts[1])
	}
	return "http:\n  routers:\n" + r.String() + "  middlewares:\n" + m.String() +
		"  services:\n    ha-backend:\n      loadBalancer:\n        servers:\n          - url: " + h.backend.URL + "\n"
}

// switchWatcher records when a sentinel announces +switch-master.
func switchWatcher(t *testing.T, sentinel, password string) chan time.Time {
	c, err := net.DialTimeout("tcp", sentinel, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	br := bufio.NewReader(c)
	if _, err := respCommand(c, br, "AUTH", password); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(c, "*2\r\n$9\r\nSUBSCRIBE\r\n$14\r\n+switch-master\r\n")
	switches := make(chan time.Time, 8)
	go func() {
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			if strings.Contains(line, "sjmaster ") {
				switches <- time.Now()
			}
		}
	}()
	return switches
}

// awaitSwitch returns when the next +switch-master arrived, after what.
func awaitSwitch(t *testing.T, switches chan time.Time, what string) time.Time {
	t.Helper()
	select {
	case at := <-switches:
		return at
	case <-time.After(30 * time.Second):
		t.Fatalf("no +switch-master within 30 s of %s", what)
	}
	return time.Time{}
}

// Sentinel: a master killed, then a planned failover, under load on an uncached router; then a logout
// through a cached one on the new master.
func TestSentinelFailoverUnderLoad(t *testing.T) {
	needHarness(t)
	s := startHAServers(t, "sentinel")
	sentinels := strings.Split(s.env["SESSIONJWT_TEST_SENTINELS"], ",")
	dataPass := s.env["SESSIONJWT_TEST_SENTINEL_DATA_PASSWORD"]
	sentinelPass := s.env["SESSIONJWT_TEST_SENTINEL_PASSWORD"]
	passFile := filepath.Join(s.dir, "sentinel-password")
	os.WriteFile(passFile, []byte(sentinelPass), 0o600)
	keys := fmt.Sprintf(`          redisURL: "redis://:%s@/0"
          redisSentinelAddresses: [%s]
          redisSentinelMasterName: sjmaster
          redisSentinelPasswordFile: %s
`, dataPass, strings.Join(sentinels, ", "), passFile)
	writeHARouters(t, haDynamic(haRouter("ha-sentinel", keys+"          cacheTTL: 0s\n"), haRouter("ha-sentinel-cached", keys)),
		"/ha-sentinel", "/ha-sentinel-cached")
	nodes := strings.Split(s.env["SESSIONJWT_TEST_SENTINEL_NODES"], ",") // sentinel-master, sentinel-replica
	names := map[string]string{nodes[0]: "sentinel-master", nodes[1]: "sentinel-replica"}
	master := func() string {
		v, err := respDo(sentinels[0], sentinelPass, "SENTINEL", "get-master-addr-by-name", "sjmaster")
		if err != nil {
			t.Fatal(err)
		}
		return strings.Replace(v, " ", ":", 1)
	}
	sessions := haSessions(t, haKeys, func(id, jwt string) string {
		if _, err := respDo(master(), dataPass, "SET", id, jwt, "EX", "600"); err != nil {
			t.Fatal(err)
		}
		return master()
	})
	all := func(int) bool { return true }
	switches := switchWatcher(t, sentinels[1], sentinelPass)

	// SIGKILL of the master.
	l := startHALoad("/ha-sentinel/x", sessions)
	time.Sleep(time.Second)
	old := master()
	from := time.Now()
	s.kill(t, names[old])
	promoted := awaitSwitch(t, switches, "the kill")
	time.Sleep(2 * time.Second)
	check(t, "sentinel, master killed", measure(l.finish(), from, promoted, all), true)

	// The killed master comes back empty: the sentinels make it a replica of the new one. It must never
	// answer for the set meanwhile (its sessions would look unknown: a 401 is "otherwise wrong" here).
	l = startHALoad("/ha-sentinel/x", sessions)
	from = time.Now()
	s.restart(t, names[old])
	waitReplicaOnline(t, master(), dataPass, sentinels[0], sentinelPass)
	check(t, "sentinel, killed master back empty", measure(l.finish(), from, time.Time{}, all), false)

	// A planned failover.
	l = startHALoad("/ha-sentinel/x", sessions)
	time.Sleep(time.Second)
	from = time.Now()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := respDo(sentinels[0], sentinelPass, "SENTINEL", "FAILOVER", "sjmaster"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("SENTINEL FAILOVER was not accepted within 30 s")
		}
		time.Sleep(200 * time.Millisecond)
	}
	promoted = awaitSwitch(t, switches, "SENTINEL FAILOVER")
	time.Sleep(2 * time.Second)
	check(t, "sentinel, planned failover", measure(l.finish(), from, promoted, all), true)

	logoutThroughTraefik(t, "/ha-sentinel-cached/x", sessions[0], func() error {
		_, err := respDo(master(), dataPass, "DEL", sessionID(sessions[0]))
		return err
	})
}

// sessionID is the session id a signed cookie carries.
func sessionID(s haSession) string { return s.cookie[:strings.LastIndex(s.cookie, ".")] }

// waitReplicaOnline waits until the master has an online replica and the sentinel counts it as good.
func waitReplicaOnline(t *testing.T, master, dataPass, sentinel, sentinelPass string) {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		info, _ := respDo(master, dataPass, "INFO", "replication")
		replicas, _ := respDo(sentinel, sentinelPass, "SENTINEL", "REPLICAS", "sjmaster")
		if strings.Contains(info, "state=online") && !strings.Contains(replicas, "s_down") {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("the restarted node did not become an online replica within 60 s")
}

// logoutThroughTraefik serves s through a cached router until cached, deletes it, and checks that it is
// refused within the revocation bound.
func logoutThroughTraefik(t *testing.T, path string, s haSession, del func() error) {
	t.Helper()
	get := func() int {
		req, _ := http.NewRequest(http.MethodGet, h.web+path, nil)
		req.AddCookie(&http.Cookie{Name: "session_uuid", Value: s.cookie})
		res, err := quickClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	deadline := time.Now().Add(5 * time.Second)
	for get() != http.StatusOK || get() != http.StatusOK {
		if time.Now().After(deadline) {
			t.Fatalf("%s: the session is not served", path)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := del(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for get() != http.StatusUnauthorized {
		if time.Since(start) > revocationBound {
			t.Fatalf("%s: the logout did not reach the cache within %v", path, revocationBound)
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("%s: logout refused after %.1f ms", path, ms(time.Since(start)))
}

// Cluster: a master killed, then slots moved while serving, under load on an uncached router; then a
// logout through a cached one.
func TestClusterFailoverUnderLoad(t *testing.T) {
	needHarness(t)
	s := startHAServers(t, "cluster")
	nodes := strings.Split(s.env["SESSIONJWT_TEST_CLUSTER"], ",")
	keys := fmt.Sprintf("          redisClusterAddresses: [%s]\n", strings.Join(nodes[:2], ", "))
	writeHARouters(t, haDynamic(haRouter("ha-cluster", keys+"          cacheTTL: 0s\n"), haRouter("ha-cluster-cached", keys)),
		"/ha-cluster", "/ha-cluster-cached")
	sessions := haSessions(t, haKeys, func(id, jwt string) string {
		return clusterSet(t, nodes[0], "SET", id, jwt, "EX", "600")
	})

	// SIGKILL of the master of the first session, whose replica takes over.
	victim := sessions[0].master
	replica := ""
	for _, n := range nodes {
		info, _ := respDo(n, "", "INFO", "replication")
		if strings.Contains(info, "role:slave") && strings.Contains(info, "master_port:"+victim[strings.LastIndex(victim, ":")+1:]+"\r\n") {
			replica = n
		}
	}
	if replica == "" {
		t.Fatalf("no replica of %s", victim)
	}
	onVictim := func(i int) bool { return sessions[i].master == victim }
	l := startHALoad("/ha-cluster/x", sessions)
	time.Sleep(time.Second)
	from := time.Now()
	s.kill(t, "cluster-"+victim[strings.LastIndex(victim, ":")+1:])
	var promoted time.Time
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if role, _ := respDo(replica, "", "ROLE"); strings.HasPrefix(role, "master") {
			promoted = time.Now()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the replica was not promoted within 30 s")
		}
	}
	time.Sleep(2 * time.Second)
	check(t, "cluster, master killed", measure(l.finish(), from, promoted, onVictim), true)

	// The killed node comes back (as a replica of the new master); then slots move while serving.
	s.restart(t, "cluster-"+victim[strings.LastIndex(victim, ":")+1:])
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		info, _ := respDo(victim, "", "CLUSTER", "INFO")
		if strings.Contains(info, "cluster_state:ok") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the restarted node did not rejoin within 30 s")
		}
	}
	fromID, _ := respDo(replica, "", "CLUSTER", "MYID")
	var toID string
	for _, n := range nodes {
		if role, _ := respDo(n, "", "ROLE"); strings.HasPrefix(role, "master") && n != replica {
			toID, _ = respDo(n, "", "CLUSTER", "MYID")
			break
		}
	}
	l = startHALoad("/ha-cluster/x", sessions)
	time.Sleep(time.Second)
	from = time.Now()
	out, err := exec.Command("redis-cli", "--cluster", "reshard", replica, "--cluster-from", fromID, "--cluster-to", toID,
		"--cluster-slots", "2000", "--cluster-yes").CombinedOutput()
	if err != nil {
		t.Fatalf("redis-cli --cluster reshard: %v: %s", err, out)
	}
	time.Sleep(time.Second)
	check(t, "cluster, 2000 slots resharded", measure(l.finish(), from, time.Time{}, nil), false)

	logoutThroughTraefik(t, "/ha-cluster-cached/x", sessions[1], func() error {
		clusterSet(t, nodes[0], "DEL", sessionID(sessions[1]))
		return nil
	})
}
