package sessionjwt

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Redis Sentinel: the sentinels name the master, and the store follows it. The master is asked for with
// SENTINEL get-master-addr-by-name (the sentinels tried in turn, the one that answered last first), and
// every new connection to it must find ROLE master (redisOptions.wantMaster): a demoted master is not
// trusted, even while it still answers. The master is looked up again when
//
//   - a lookup on it fails other than by an error reply, or with READONLY (it was demoted): then the
//     lookup is tried once more on the new master, if the sentinels name another;
//   - a sentinel announces +switch-master: one goroutine per Sentinel set, the watcher, stays subscribed
//     to it on one sentinel at a time (and looks the master up whenever it subscribes, for the switches
//     it missed).
//
// A new master replaces the old one's pool, whose idle connections are closed, and restarts the cache
// invalidation channels of the set (invalidation.go), which then subscribe on the new master. Nothing is
// dialed before the first lookup; the watcher stops when the set has not been used for redisIdleTimeout,
// and the next lookup starts it again.

// sentinelSet is one Sentinel-monitored master as the middlewares configured with it reach it.
type sentinelSet struct {
	key       string
	master    string         // the name the sentinels know it by
	sentinels []redisOptions // one per sentinel address
	data      redisOptions   // the data nodes' settings; at() gives the master's

	mu       sync.Mutex
	pool     *redisPool // the master's; nil until the sentinels named one
	addr     string     // its address
	first    int        // the sentinel to ask first: the last one that answered
	watching bool       // the watcher runs
	down     bool       // no sentinel answered: logged once until one does

	used        atomic.Int64 // unix nanoseconds of the last lookup: an unused set's watcher stops
	discovering atomic.Bool  // one lookup of the master at a time
	asked       atomic.Int64 // unix nanoseconds of the last one
}

var (
	sentinelSetsMu sync.Mutex
	sentinelSets   = map[string]*sentinelSet{}
)

// sharedSentinelSet returns the set for these settings, creating it (without dialing) on first use.
func sharedSentinelSet(data redisOptions, ss *sentinelSettings) *sentinelSet {
	key := "sentinel\x00" + ss.master + "\x00" + ss.username + "\x00" + ss.password + "\x00" +
		strings.Join(ss.addresses, ",") + "\x00" + data.poolKey()
	sentinelSetsMu.Lock()
	defer sentinelSetsMu.Unlock()
	s := sentinelSets[key]
	if s == nil {
		s = &sentinelSet{key: key, master: ss.master, data: data}
		s.used.Store(time.Now().UnixNano())
		for _, addr := range ss.addresses {
			o := data.at(addr)
			o.username = ss.username
			o.password = ss.password
			o.db = 0
			o.wantMaster = false
			s.sentinels = append(s.sentinels, o)
		}
		sentinelSets[key] = s
	}
	return s
}

// sentinelRoundTrip is roundTrip on the master of s.
func sentinelRoundTrip(s *sentinelSet, cmd string, replies int, deadline time.Time) (interface{}, error) {
	p := currentMaster(s)
	if p == nil {
		var err error
		if p, err = findMaster(s, nil, deadline); err != nil {
			return nil, err
		}
	}
	reply, err := roundTrip(p, cmd, replies, deadline)
	if !masterLost(err) {
		return reply, err
	}
	next, findErr := findMaster(s, p, deadline)
	if findErr != nil || next == p || next == nil {
		return reply, err
	}
	return roundTrip(next, cmd, replies, deadline)
}

// currentMaster returns the pool of the master last named, nil before the first, and keeps the watcher
// running.
func currentMaster(s *sentinelSet) *redisPool {
	s.used.Store(time.Now().UnixNano())
	s.mu.Lock()
	p := s.pool
	start := !s.watching
	s.watching = true
	s.mu.Unlock()
	if start {
		go watchSentinels(s)
	}
	return p
}

// masterLost reports an error after which the sentinels must be asked again: the connection failed, the
// dial found no master (ROLE), or the node answered READONLY. Not a timeout: a master too slow to answer
// is still the master until the sentinels say otherwise, which the watcher hears.
func masterLost(err error) bool {
	if err == nil || err == errPoolTimeout || errors.Is(err, os.ErrDeadlineExceeded) {
		return false
	}
	if re, isReply := err.(redisError); isReply {
		return strings.HasPrefix(string(re), "READONLY")
	}
	return true
}

// sentinelAskInterval is the least time between two lookups of the master after failures on it.
const sentinelAskInterval = 100 * time.Millisecond

var errNoMasterYet = errors.New("redis: the sentinels have not named the master yet")

// findMaster asks the sentinels for the master, one lookup at a time: while another is under way, it
// returns the master as it is. stale is the pool that just failed (nil: none). Too close to the deadline
// to ask, it asks in the background, with a deadline of its own.
func findMaster(s *sentinelSet, stale *redisPool, deadline time.Time) (*redisPool, error) {
	// While the master is down, every lookup fails: the sentinels are asked at most every
	// sentinelAskInterval, not once per request.
	recent := stale != nil && time.Now().UnixNano()-s.asked.Load() < int64(sentinelAskInterval)
	if recent || !s.discovering.CompareAndSwap(false, true) {
		s.mu.Lock()
		p := s.pool
		s.mu.Unlock()
		if p == nil {
			return nil, errNoMasterYet
		}
		return p, nil
	}
	if time.Until(deadline) < s.data.timeout/4 {
		avoid := ""
		if stale != nil {
			avoid = stale.opts.address
		}
		go askInBackground(s, avoid)
		if stale == nil {
			return nil, errNoMasterYet
		}
		return stale, nil
	}
	avoid := ""
	if stale != nil {
		avoid = stale.opts.address
	}
	p, err := askSentinels(s, deadline, avoid)
	s.discovering.Store(false)
	return p, err
}

func askInBackground(s *sentinelSet, avoid string) {
	askSentinels(s, time.Now().Add(s.data.timeout), avoid)
	s.discovering.Store(false)
}

// askSentinels asks each sentinel in turn, each within its share of what is left of the deadline, for
// the master's address, and makes the answer the master. A sentinel that names avoid, the master that
// just failed, is passed over while another may know better: right after a failover, sentinels that
// have not heard of it yet name the demoted master for a second or two.
func askSentinels(s *sentinelSet, deadline time.Time, avoid string) (*redisPool, error) {
	s.asked.Store(time.Now().UnixNano())
	s.mu.Lock()
	first := s.first
	s.mu.Unlock()
	n := len(s.sentinels)
	var lastErr error
	for i := 0; i < n; i++ {
		at := (first + i) % n
		share := time.Until(deadline) / time.Duration(n-i)
		addr, err := askSentinel(s.sentinels[at], s.master, time.Now().Add(share))
		if err == nil && addr == avoid && i < n-1 {
			err = errors.New("sentinel " + s.sentinels[at].address + " still names the master that failed")
		}
		if err != nil {
			lastErr = err
			continue
		}
		s.mu.Lock()
		s.first = at
		wasDown := s.down
		s.down = false
		s.mu.Unlock()
		if wasDown {
			logf("redis sentinel %s answers again for master %q", s.sentinels[at].address, s.master)
		}
		return setMaster(s, addr), nil
	}
	s.mu.Lock()
	logIt := !s.down
	s.down = true
	s.mu.Unlock()
	if logIt {
		logf("redis sentinel: none of the %d sentinels named master %q, requests get the redisFailure policy: %v",
			n, s.master, lastErr)
	}
	return nil, fmt.Errorf("redis: no sentinel named master %q: %w", s.master, lastErr)
}

// askSentinel asks one sentinel for the master's address.
func askSentinel(o redisOptions, master string, deadline time.Time) (string, error) {
	c, err := o.dial(deadline, "sessionjwt")
	if err != nil {
		return "", err
	}
	defer c.close()
	reply, err := exchange(c, string(appendCommand(nil, []string{"SENTINEL", "get-master-addr-by-name", master})), 1, deadline)
	if err != nil {
		return "", err
	}
	pair, _ := reply.([]interface{})
	if len(pair) != 2 {
		return "", fmt.Errorf("sentinel %s does not monitor a master named %q", o.address, master)
	}
	host, hostOK := pair[0].([]byte)
	port, portOK := pair[1].([]byte)
	if !hostOK || !portOK {
		return "", protocolError("SENTINEL get-master-addr-by-name did not answer host and port")
	}
	return net.JoinHostPort(string(host), string(port)), nil
}

// setMaster makes addr the master of s and returns its pool. A change closes the old master's idle
// connections and restarts the set's invalidation channels.
func setMaster(s *sentinelSet, addr string) *redisPool {
	s.mu.Lock()
	if addr == s.addr {
		p := s.pool
		s.mu.Unlock()
		return p
	}
	p := sharedPool(s.data.at(addr))
	old, oldAddr := s.pool, s.addr
	s.pool = p
	s.addr = addr
	s.mu.Unlock()
	if old != nil { // not the first master named: the invalidation channel, if any, is on the old one
		old.discardIdle()
		logf("redis sentinel: master %q is now at %s (was %s)", s.master, addr, oldAddr)
		restartTrackers(s.key)
	}
	return p
}

// watchSentinels keeps a subscription to +switch-master on one sentinel at a time, until s has not been
// used for the idle timeout.
func watchSentinels(s *sentinelSet) {
	for i := 0; ; i++ {
		if sentinelUnused(s) {
			return
		}
		o := s.sentinels[i%len(s.sentinels)]
		c, err := subscribeSwitches(o, time.Now().Add(s.data.timeout))
		if err == nil {
			askSentinels(s, time.Now().Add(s.data.timeout), "") // the switches missed while unsubscribed
			readSwitches(s, c)
			c.close()
		}
		time.Sleep(trackerRetry)
	}
}

// sentinelUnused stops the watcher of a set no lookup used for the idle timeout, and reports it. The set
// leaves sentinelSets too (a configuration replaced for good leaves nothing behind); a middleware that still
// holds it starts its watcher again at its next lookup.
func sentinelUnused(s *sentinelSet) bool {
	s.mu.Lock()
	if time.Since(time.Unix(0, s.used.Load())) < s.data.idleTimeout {
		s.mu.Unlock()
		return false
	}
	s.watching = false
	s.mu.Unlock()
	sentinelSetsMu.Lock()
	if sentinelSets[s.key] == s {
		delete(sentinelSets, s.key)
	}
	sentinelSetsMu.Unlock()
	return true
}

func subscribeSwitches(o redisOptions, deadline time.Time) (*respConn, error) {
	c, err := o.dial(deadline, "sessionjwt-sentinel")
	if err != nil {
		return nil, err
	}
	if err := subscribe(c, "+switch-master", deadline); err != nil {
		return nil, err
	}
	return c, nil
}

// readSwitches follows the +switch-master messages on c until it fails, a ping goes unanswered, or s is
// unused. A message reads "<name> <old ip> <old port> <new ip> <new port>".
func readSwitches(s *sentinelSet, c *respConn) {
	pinged := false
	for {
		wait := trackerPingInterval
		if pinged {
			wait = s.data.timeout
		}
		if c.nc.SetReadDeadline(time.Now().Add(wait)) != nil {
			return
		}
		reply, err := readReply(c, 0)
		if err != nil {
			if pinged || !errors.Is(err, os.ErrDeadlineExceeded) || sentinelUnused(s) {
				return
			}
			if sendPing(c, s.data.timeout) != nil {
				return
			}
			pinged = true
			continue
		}
		pinged = false
		fields := switchMessage(reply)
		if len(fields) == 5 && fields[0] == s.master {
			setMaster(s, net.JoinHostPort(fields[3], fields[4]))
		}
	}
}

// switchMessage returns the fields of a +switch-master message, nil for any other reply (a pong).
func switchMessage(reply interface{}) []string {
	msg, ok := reply.([]interface{})
	if !ok || len(msg) != 3 {
		return nil
	}
	kind, _ := msg[0].([]byte)
	payload, _ := msg[2].([]byte)
	if string(kind) != "message" {
		return nil
	}
	return strings.Fields(string(payload))
}
