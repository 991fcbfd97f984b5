package sessionjwt

import (
	"bytes"
	"errors"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Redis-assisted invalidation (cacheInvalidation: tracking): Redis tells us when a key we may have
// cached changes, so a session deleted from Redis (a logout, a revocation) stops authenticating within
// milliseconds in every Traefik, not after cacheTTL.
//
// One connection per Redis endpoint and set of key prefixes, the tracker, runs (with Sentinel on the
// master, with Cluster on every master: a key's change is reported by the node it is written on)
//
//	CLIENT TRACKING on REDIRECT <its own id> BCAST [PREFIX p ...]
//	SUBSCRIBE __redis__:invalidate
//
// and one goroutine reads the invalidation messages on it. Broadcast mode, not the default per-key
// mode: in per-key mode Redis remembers which keys each data connection read, and forgets them when
// that connection closes (redis/redis#13082), so every pooled connection would have to be tied to the
// tracker and every entry to the connection that read it. In broadcast mode the tracker alone holds
// the registration: every change of a key under the prefixes reaches it, whichever connection read the
// key, and data connections come and go freely. The price is a message for every change under the
// prefixes, read ones or not (set redisKeyPrefix to scope it; tracking ignores the database number).
//
// Whenever the tracker is not known to be subscribed (before the first subscription, while Redis is
// unreachable, after its connection failed, was killed, or left a ping unanswered) its caches are empty
// and bypassed: every request reads Redis. A cache entry is stored only when no invalidation and no
// outage happened between the moment its read was sent and the moment it is stored (the cache's epoch),
// so a reply that raced with an invalidation is never kept.

// trackerPingInterval is how long the tracker waits for a message before it pings; a ping unanswered for
// the Redis timeout ends the connection. A channel that goes silent is noticed within their sum.
const trackerPingInterval = time.Second

// trackerRetry is how long the tracker waits before it dials again after a failure.
const trackerRetry = 500 * time.Millisecond

// tracker is the invalidation channel of one Redis endpoint and set of key prefixes, shared by every
// cache that reads through it.
type tracker struct {
	opts     redisOptions
	sentinel *sentinelSet  // with Sentinel: the channel is on the master the sentinels name
	cluster  *redisCluster // with Cluster: one connection on every master, all subscribed or none
	source   string        // the store's poolKey: restartTrackers finds the trackers of a set or cluster
	prefixes []string      // reduced: none is a prefix of another; empty: every key
	key      string

	mu      sync.Mutex
	caches  []*sessionCache
	conns   []*respConn // the open connections, closed by leaveTracker or restartTrackers to end the readers
	gen     int         // counts restarts: a subscription begun before one is not trusted
	live    bool        // subscribed: its caches serve entries
	down    bool        // an outage was logged; its end is logged once too
	stopped bool        // no cache left: the goroutine ends
}

var (
	trackersMu sync.Mutex
	trackers   = map[string]*tracker{}
)

// trackingPrefixes reduces the key prefixes a cache reads under to those Redis accepts together: no one
// a prefix of another. An empty prefix covers every key, and then none is sent.
func trackingPrefixes(prefixes []string) []string {
	sorted := append([]string(nil), prefixes...)
	sort.Strings(sorted) // a prefix sorts before every string it is a prefix of
	var out []string
	for _, p := range sorted {
		if p == "" {
			return nil
		}
		if len(out) > 0 && strings.HasPrefix(p, out[len(out)-1]) {
			continue
		}
		out = append(out, p)
	}
	return out
}

// trackerKey names the tracker of a store's Redis (its poolKey) and prefix set.
func trackerKey(poolKey string, prefixes []string) string {
	key := poolKey + "\x00tracking"
	for _, p := range prefixes {
		key += "\x00" + strconv.Itoa(len(p)) + ":" + p
	}
	return key
}

// track makes c's entries follow Redis: it joins the tracker of c.tracking, starting it when there is
// none. Until the tracker is subscribed, c is bypassed.
func track(c *sessionCache) {
	tc := c.tracking
	trackersMu.Lock()
	t := trackers[tc.key]
	if t == nil {
		t = &tracker{opts: tc.opts, sentinel: tc.sentinel, cluster: tc.cluster, prefixes: tc.prefixes, key: tc.key}
		if tc.sentinel != nil {
			t.source = tc.sentinel.key
		} else if tc.cluster != nil {
			t.source = tc.cluster.key
		}
		trackers[tc.key] = t
		go runTracker(t)
	}
	trackersMu.Unlock()
	joinTracker(t, c)
}

// joinTracker adds c to t's caches. c is empty (new, or emptied when it left): it serves entries at once
// when t is live.
func joinTracker(t *tracker, c *sessionCache) {
	t.mu.Lock()
	t.caches = append(t.caches, c)
	live := t.live
	t.mu.Unlock()
	c.mu.Lock()
	c.joined = t.key
	c.bypass = !live
	clearEpoch(c)
	c.mu.Unlock()
}

// leaveTracker takes c off its tracker, if any (the janitor dropped c as unused), empties and bypasses
// it, and stops the tracker when no cache is left. A middleware that uses c again attaches it again.
func leaveTracker(c *sessionCache) {
	c.mu.Lock()
	key := c.joined
	c.joined = ""
	c.mu.Unlock()
	trackersMu.Lock()
	t := trackers[key]
	trackersMu.Unlock()
	if t == nil {
		return
	}
	emptyCache(c, true)
	t.mu.Lock()
	var rest []*sessionCache // a new slice: invalidate may be reading the old one
	for _, other := range t.caches {
		if other != c {
			rest = append(rest, other)
		}
	}
	t.caches = rest
	last := len(t.caches) == 0
	if last {
		t.stopped = true
		closeAll(t.conns) // ends the readers' wait
	}
	t.mu.Unlock()
	if last {
		trackersMu.Lock()
		if trackers[t.key] == t {
			delete(trackers, t.key)
		}
		trackersMu.Unlock()
	}
}

// emptyCache drops every entry of c and moves its epoch, so that no read begun before can store one;
// bypass says whether c serves entries from now on.
func emptyCache(c *sessionCache, bypass bool) {
	c.mu.Lock()
	c.entries = map[string]*session{}
	c.lru.Init()
	clearEpoch(c)
	c.bypass = bypass
	c.mu.Unlock()
}

// maxRecent bounds the invalidations a cache remembers for the reads in flight; past it they are
// forgotten at once, as an invalidation of everything.
const maxRecent = 1024

// clearEpoch moves c's epoch past every read in flight; the caller holds c.mu.
func clearEpoch(c *sessionCache) {
	c.epoch++
	c.cleared = c.epoch
	c.recent = map[string]int64{}
}

// runTracker keeps t's channel open until t is stopped: it subscribes, reads invalidations until a
// connection fails, and starts again after trackerRetry.
func runTracker(t *tracker) {
	for {
		t.mu.Lock()
		gen := t.gen
		t.mu.Unlock()
		conns, err := subscribeAll(t)
		if err == nil {
			up, stopped := trackerUp(t, conns, gen)
			if stopped {
				closeAll(conns)
				return
			}
			if up {
				err = readAll(t, conns)
			} else {
				closeAll(conns)
				err = errors.New("the master changed while the channel was opened")
			}
		}
		if !trackerDown(t, err) {
			return
		}
		time.Sleep(trackerRetry)
	}
}

// restartTrackers closes the channels of the trackers of a Sentinel set or cluster (source) whose
// master or masters changed: they subscribe again, on the new ones.
func restartTrackers(source string) {
	trackersMu.Lock()
	var list []*tracker
	for _, t := range trackers {
		if t.source == source {
			list = append(list, t)
		}
	}
	trackersMu.Unlock()
	for _, t := range list {
		t.mu.Lock()
		t.gen++
		closeAll(t.conns)
		t.mu.Unlock()
	}
}

// trackedNodes returns the settings of the nodes t subscribes on: its endpoint, the master of its
// Sentinel set, or every master of its cluster.
func trackedNodes(t *tracker, deadline time.Time) ([]redisOptions, error) {
	if t.sentinel != nil {
		p := currentMaster(t.sentinel)
		if p == nil {
			var err error
			if p, err = findMaster(t.sentinel, nil, deadline); err != nil {
				return nil, err
			}
		}
		return []redisOptions{p.opts}, nil
	}
	if t.cluster != nil {
		masters, err := clusterMasters(t.cluster, deadline)
		if err != nil {
			return nil, err
		}
		nodes := make([]redisOptions, len(masters))
		for i, addr := range masters {
			nodes[i] = t.cluster.data.at(addr)
		}
		return nodes, nil
	}
	return []redisOptions{t.opts}, nil
}

// subscribeAll subscribes on every node of t within one Redis timeout: all of them, or none.
func subscribeAll(t *tracker) ([]*respConn, error) {
	deadline := time.Now().Add(t.opts.timeout)
	nodes, err := trackedNodes(t, deadline)
	if err != nil {
		return nil, err
	}
	conns := make([]*respConn, 0, len(nodes))
	for _, o := range nodes {
		c, err := subscribeTracking(o, t.prefixes, deadline)
		if err != nil {
			closeAll(conns)
			return nil, err
		}
		conns = append(conns, c)
	}
	return conns, nil
}

// readAll reads the invalidations on every connection, each in a goroutine of its own past the first,
// until one fails; then it closes them all and returns the first error.
func readAll(t *tracker, conns []*respConn) error {
	errs := make(chan error, len(conns))
	for _, c := range conns[1:] {
		go readInto(t, c, errs)
	}
	readInto(t, conns[0], errs)
	err := <-errs
	closeAll(conns)
	for i := 1; i < len(conns); i++ {
		<-errs
	}
	return err
}

func readInto(t *tracker, c *respConn, errs chan error) { errs <- readInvalidations(t, c) }

func closeAll(conns []*respConn) {
	for _, c := range conns {
		c.close()
	}
}

// subscribeTracking dials the node o and subscribes to the invalidation channel of the keys under
// prefixes, all before deadline.
func subscribeTracking(o redisOptions, prefixes []string, deadline time.Time) (*respConn, error) {
	c, err := o.dial(deadline, "sessionjwt-invalidation")
	if err != nil {
		return nil, err
	}
	reply, err := exchange(c, string(appendCommand(nil, []string{"CLIENT", "ID"})), 1, deadline)
	id, isInt := reply.(int64)
	if err == nil && !isInt {
		err = protocolError("CLIENT ID did not answer an integer")
	}
	if err != nil {
		c.close()
		return nil, err
	}
	args := []string{"CLIENT", "TRACKING", "on", "REDIRECT", strconv.FormatInt(id, 10), "BCAST"}
	for _, p := range prefixes {
		args = append(args, "PREFIX", p)
	}
	if err := c.expectOK(deadline, args...); err != nil {
		c.close()
		return nil, err
	}
	if err := subscribe(c, "__redis__:invalidate", deadline); err != nil {
		return nil, err
	}
	return c, nil
}

// subscribe subscribes c to channel before deadline, and closes c when that fails.
func subscribe(c *respConn, channel string, deadline time.Time) error {
	reply, err := exchange(c, string(appendCommand(nil, []string{"SUBSCRIBE", channel})), 1, deadline)
	if err == nil && !isPubSubReply(reply, "subscribe") {
		err = protocolError("SUBSCRIBE did not answer subscribe")
	}
	if err != nil {
		c.close()
	}
	return err
}

// trackerUp records t's new connections and lets its caches serve, emptied first: what they held was
// read while no channel could invalidate it. It reports whether the connections are current (no restart
// since gen) and whether t was stopped meanwhile.
func trackerUp(t *tracker, conns []*respConn, gen int) (bool, bool) {
	t.mu.Lock()
	if t.stopped || t.gen != gen {
		t.mu.Unlock()
		return false, t.stopped
	}
	t.conns = conns
	t.live = true
	caches := append([]*sessionCache(nil), t.caches...)
	wasDown := t.down
	t.down = false
	t.mu.Unlock()
	for _, cache := range caches {
		emptyCache(cache, false)
	}
	if wasDown {
		logf("redis at %s: cache invalidation is back; cached sessions are served again", trackerLabel(t))
	}
	return true, false
}

// trackerLabel names t's Redis in log lines, without credentials.
func trackerLabel(t *tracker) string {
	if t.sentinel != nil {
		return "sentinel master " + strconv.Quote(t.sentinel.master)
	}
	if t.cluster != nil {
		return "cluster " + strings.Join(t.cluster.seeds, ",")
	}
	return t.opts.label()
}

// trackerDown empties and bypasses t's caches after its channel failed with err (or could not be
// opened), logging the start of an outage once. It reports false when t was stopped.
func trackerDown(t *tracker, err error) bool {
	t.mu.Lock()
	t.conns = nil
	t.live = false
	stopped := t.stopped
	caches := append([]*sessionCache(nil), t.caches...)
	logIt := !t.down && !stopped
	t.down = true
	t.mu.Unlock()
	for _, cache := range caches {
		emptyCache(cache, true)
	}
	if logIt {
		logf("redis at %s: cache invalidation is unavailable, so the session cache is bypassed and every "+
			"request reads Redis until it is back: %v%s", trackerLabel(t), err, trackingHint(err))
	}
	return !stopped
}

// trackingHint explains an error reply to the tracking commands: an old Redis, a proxy or an ACL.
func trackingHint(err error) string {
	if _, refused := err.(redisError); refused {
		return " (tracking needs Redis 6 or later and an ACL allowing CLIENT and SUBSCRIBE; " +
			"cacheInvalidation: ttl caches without it, sessions then outliving their key for up to cacheTTL)"
	}
	return ""
}

// readInvalidations applies the invalidation messages on c to t's caches until c fails. When no message
// came for trackerPingInterval it pings, and a ping unanswered within the Redis timeout fails c.
func readInvalidations(t *tracker, c *respConn) error {
	pinged := false
	for {
		wait := trackerPingInterval
		if pinged {
			wait = t.opts.timeout
		}
		if err := c.nc.SetReadDeadline(time.Now().Add(wait)); err != nil {
			return err
		}
		keys, flush, err := readMessage(c)
		if err != nil {
			if pinged || !errors.Is(err, os.ErrDeadlineExceeded) {
				return err
			}
			if err := sendPing(c, t.opts.timeout); err != nil {
				return err
			}
			pinged = true
			continue
		}
		pinged = false
		if keys != nil || flush {
			invalidate(t, keys, flush)
		}
	}
}

// The two replies Redis sends on the subscribed connection: an invalidation message (this head, then its
// payload) and the answer to a ping.
var (
	messageHead = []byte("*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n")
	pongReply   = []byte("*2\r\n$4\r\npong\r\n$0\r\n\r\n")
)

// readMessage reads one reply on the subscribed connection: an invalidation message (its keys, or flush
// for FLUSHDB and FLUSHALL, which Redis reports as a nil payload) or the answer to a ping (neither). Every
// change of a key under the prefixes is one message, so the fixed parts are compared whole, in compiled
// calls, rather than parsed (docs/yaegi.md).
func readMessage(c *respConn) ([][]byte, bool, error) {
	head, err := c.br.Peek(len(pongReply))
	if err == nil && bytes.Equal(head, pongReply) {
		_, err = c.br.Discard(len(pongReply))
		return nil, false, err
	}
	if head, err = c.br.Peek(len(messageHead)); err != nil {
		return nil, false, err
	}
	if !bytes.Equal(head, messageHead) {
		return nil, false, protocolError("unexpected reply on the invalidation connection")
	}
	c.br.Discard(len(messageHead))
	return readPayload(c)
}

// readPayload reads the payload of an invalidation message: an array of keys, or nil for a flush.
func readPayload(c *respConn) ([][]byte, bool, error) {
	line, err := c.br.ReadSlice('\n')
	if err != nil || len(line) < 4 || line[len(line)-2] != '\r' {
		return nil, false, protocolError("bad invalidation payload")
	}
	if line[0] != '*' {
		return nil, string(line) == "$-1\r\n", nil
	}
	n, err := parseLength(line[1:len(line)-2], maxArrayLen)
	if err != nil || n < 0 {
		return nil, n < 0 && err == nil, err
	}
	keys := make([][]byte, n)
	for i := range keys {
		key, err := readReply(c, 0)
		if err != nil {
			return nil, false, err
		}
		keys[i], _ = key.([]byte)
	}
	return keys, false, nil
}

// invalidate drops keys from t's caches, or everything on a flush. Either way the caches' epochs move,
// so that no read in flight stores a value older than the change.
func invalidate(t *tracker, keys [][]byte, flush bool) {
	t.mu.Lock()
	caches := t.caches // replaced, never changed in place: see joinTracker and leaveTracker
	t.mu.Unlock()
	for _, c := range caches {
		if flush {
			emptyCache(c, false)
			continue
		}
		dropKeys(c, keys)
	}
}

// dropKeys removes the entries of keys from c, and remembers them as invalidated now so that no read of
// them in flight stores its older value.
func dropKeys(c *sessionCache, keys [][]byte) {
	c.mu.Lock()
	c.epoch++
	if len(c.recent)+len(keys) > maxRecent {
		clearEpoch(c)
	}
	for _, key := range keys {
		name := string(key)
		c.recent[name] = c.epoch
		if s := c.entries[name]; s != nil {
			cacheRemove(c, s)
		}
	}
	c.mu.Unlock()
}

// sendPing writes a PING, which a subscribed connection answers with ["pong", ""].
func sendPing(c *respConn, timeout time.Duration) error {
	if err := c.nc.SetWriteDeadline(time.Now().Add(timeout)); err != nil {
		return err
	}
	_, err := c.nc.Write([]byte("*1\r\n$4\r\nPING\r\n"))
	return err
}

// isPubSubReply reports a Pub/Sub reply of the given kind: an array whose first element is kind.
func isPubSubReply(reply interface{}, kind string) bool {
	list, ok := reply.([]interface{})
	if !ok || len(list) != 3 {
		return false
	}
	first, ok := list[0].([]byte)
	return ok && string(first) == kind
}
