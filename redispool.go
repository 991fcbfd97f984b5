package sessionjwt

import (
	"crypto/tls"
	"errors"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Traefik calls New once per router and again on every configuration change, and has no Close hook.
// Pools therefore live at package level, one per distinct set of Redis settings, so that reloads and
// routers share connections instead of multiplying them. What a configuration change leaves behind (a
// pool for the old password or pool size) is found by not being used: the janitor (janitor.go) closes
// connections idle for idleTimeout and retires pools with none left.
var (
	poolsMu sync.Mutex
	pools   = map[string]*redisPool{} // by poolKey, for sharedPool
	// livePools is every pool not retired, the janitor's list: a pool a middleware still uses after it was
	// retired and replaced in pools by a newer one comes back here when it dials again.
	livePools []*redisPool
)

// sharedPool returns the pool for opts, creating it (without dialing) on first use.
func sharedPool(opts redisOptions) *redisPool {
	startJanitor()
	key := opts.poolKey()
	poolsMu.Lock()
	defer poolsMu.Unlock()
	p := pools[key]
	if p == nil {
		p = &redisPool{
			opts: opts,
			key:  key,
		}
		pools[key] = p
		livePools = append(livePools, p)
	}
	return p
}

var errPoolTimeout = errors.New("redis: no free connection before the deadline")

// redisPool holds at most poolSize connections to one endpoint: open counts them, idle holds those not in
// use. Every wait, dial and command is bounded by one per-lookup deadline.
//
// No channel and no select: under Yaegi v0.16.1 a select run at the same time by goroutines on different
// channels takes its channels and values from another goroutine's call (docs/yaegi.md). Pools of idle
// connections in channels, one per Redis node, then handed a connection of one pool to a request of
// another, and one connection to two requests at once, which read each other's replies: a session got
// another session's JWT in the e2e failover tests. A mutex and a slice cannot be mixed up that way.
type redisPool struct {
	opts redisOptions
	key  string      // opts.poolKey()
	down atomic.Bool // the last operation failed; logs the start and the end of an outage once each

	mu   sync.Mutex
	idle []*respConn // not in use, the most recently used last
	open int         // connections open, idle or in use: at most opts.poolSize

	retired    bool      // guarded by poolsMu: not in livePools (see retirePool)
	emptySince time.Time // the janitor's own: since when the pool has had no connection open
}

// poolWait is how long a lookup that found poolSize connections in use waits before it looks again.
const poolWait = time.Millisecond

// roundTrip runs encoded commands (replies of them, pipelined) on a pooled connection. A reused connection that fails other than
// by timing out is most likely stale (Redis restarted, or closed it): then every idle connection is
// dropped and the command tried once more on a new one, so a restart costs no failed request.
func roundTrip(p *redisPool, cmd string, replies int, deadline time.Time) (interface{}, error) {
	for attempt := 0; ; attempt++ {
		// The idle connection taken here, not in acquire: one interpreted call less per lookup.
		var c *respConn
		p.mu.Lock()
		if n := len(p.idle); n > 0 {
			c = p.idle[n-1]
			p.idle = p.idle[:n-1]
		}
		p.mu.Unlock()
		reused := c != nil
		if c == nil {
			var err error
			if c, reused, err = acquire(p, deadline); err != nil {
				p.failed(err)
				return nil, err
			}
		}
		reply, err := exchange(c, cmd, replies, deadline)
		if _, isReply := err.(redisError); err == nil || isReply {
			c.lastDeadline = deadline
			putIdle(p, c)
			if p.down.Load() {
				p.succeeded()
			}
			return reply, err
		}
		if !retryAfter(p, c, err, reused && attempt == 0) {
			return nil, err
		}
	}
}

// retryAfter discards the connection c after its exchange failed with err (other than an error reply),
// and reports whether to try again: when c was the first, reused connection and did not time out, every
// idle one is dropped too, for a retry on a new connection.
func retryAfter(p *redisPool, c *respConn, err error, firstReused bool) bool {
	p.discard(c)
	if firstReused && !errors.Is(err, os.ErrDeadlineExceeded) {
		p.discardIdle()
		return true
	}
	p.failed(err)
	return false
}

// acquire returns an idle connection (reused: true), or dials a new one while fewer than poolSize are
// open, or looks again every poolWait until deadline.
func acquire(p *redisPool, deadline time.Time) (*respConn, bool, error) {
	for {
		p.mu.Lock()
		if n := len(p.idle); n > 0 {
			c := p.idle[n-1]
			p.idle = p.idle[:n-1]
			p.mu.Unlock()
			return c, true, nil
		}
		room := p.open < p.opts.poolSize
		if room {
			p.open++
		}
		p.mu.Unlock()
		if room {
			return p.dialSlot(deadline)
		}
		if !time.Now().Before(deadline) {
			return nil, false, errPoolTimeout
		}
		time.Sleep(poolWait)
	}
}

// releaseSlot counts a connection closed, or a dial failed.
func releaseSlot(p *redisPool) {
	p.mu.Lock()
	if p.open > 0 {
		p.open--
	}
	p.mu.Unlock()
}

func openConns(p *redisPool) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.open
}

func idleConns(p *redisPool) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.idle)
}

// dialSlot dials with a slot already taken, giving it back on failure. A retired pool in use again
// returns to the janitor's list first, so its connections are swept like any other's.
func (p *redisPool) dialSlot(deadline time.Time) (*respConn, bool, error) {
	poolsMu.Lock()
	if p.retired {
		adoptPool(p)
	}
	poolsMu.Unlock()
	c, err := p.opts.dial(deadline, "sessionjwt")
	if err != nil {
		releaseSlot(p)
		return nil, false, err
	}
	return c, false, nil
}

// sweepPools closes the connections that have been idle for their pool's idleTimeout, and retires the
// pools that have had no connection open for as long: pools of settings no configuration uses anymore.
func sweepPools(now time.Time) {
	poolsMu.Lock()
	list := append([]*redisPool(nil), livePools...)
	poolsMu.Unlock()
	for _, p := range list {
		closeIdle(p, now)
		if openConns(p) > 0 {
			p.emptySince = time.Time{}
			continue
		}
		if p.emptySince.IsZero() {
			p.emptySince = now
		} else if now.Sub(p.emptySince) >= p.opts.idleTimeout {
			poolsMu.Lock()
			if openConns(p) == 0 { // a dial takes its slot before it checks retired, under poolsMu
				retirePool(p)
			}
			poolsMu.Unlock()
		}
	}
}

// closeIdle closes p's connections whose last lookup ended idleTimeout ago; the others stay.
func closeIdle(p *redisPool, now time.Time) {
	p.mu.Lock()
	var expired []*respConn
	kept := p.idle[:0]
	for _, c := range p.idle {
		if now.Sub(c.lastDeadline) >= p.opts.idleTimeout {
			expired = append(expired, c)
		} else {
			kept = append(kept, c)
		}
	}
	p.idle = kept
	p.mu.Unlock()
	for _, c := range expired {
		p.discard(c)
	}
}

// retirePool takes p off the janitor's list and out of pools; the caller holds poolsMu.
func retirePool(p *redisPool) {
	p.retired = true
	for i, q := range livePools {
		if q == p {
			livePools = append(livePools[:i], livePools[i+1:]...)
			break
		}
	}
	if pools[p.key] == p {
		delete(pools, p.key)
	}
}

// adoptPool puts a retired pool back on the janitor's list (and in pools, unless a newer pool for the
// same settings took its place); the caller holds poolsMu.
func adoptPool(p *redisPool) {
	p.retired = false
	livePools = append(livePools, p)
	if pools[p.key] == nil {
		pools[p.key] = p
	}
}

// putIdle puts c back among p's idle connections, or closes it when they are poolSize already.
func putIdle(p *redisPool, c *respConn) {
	p.mu.Lock()
	room := len(p.idle) < p.opts.poolSize
	if room {
		p.idle = append(p.idle, c)
	}
	p.mu.Unlock()
	if !room {
		p.discard(c)
	}
}

func (p *redisPool) discard(c *respConn) {
	c.close()
	releaseSlot(p)
}

// discardIdle closes every idle connection.
func (p *redisPool) discardIdle() {
	p.mu.Lock()
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	for _, c := range idle {
		p.discard(c)
	}
}

func (p *redisPool) failed(err error) {
	if p.down.CompareAndSwap(false, true) {
		logf("redis at %s is unavailable, requests get the redisFailure policy: %v", p.opts.label(), err)
	}
}

func (p *redisPool) succeeded() {
	if p.down.CompareAndSwap(true, false) {
		logf("redis at %s is available again", p.opts.label())
	}
}

// dial opens and prepares a connection: TLS, AUTH, SELECT and a client name that shows in CLIENT LIST.
func (o redisOptions) dial(deadline time.Time, name string) (*respConn, error) {
	d := net.Dialer{Deadline: deadline}
	nc, err := d.Dial(o.network, o.address)
	if err != nil {
		return nil, err
	}
	if o.tlsConfig != nil {
		tc := tls.Client(nc, o.tlsConfig)
		if err := tc.SetDeadline(deadline); err != nil {
			nc.Close()
			return nil, err
		}
		if err := tc.Handshake(); err != nil {
			nc.Close()
			return nil, err
		}
		nc = tc
	}
	c := newRespConn(nc)
	if err := o.prepare(c, deadline, name); err != nil {
		c.close()
		return nil, err
	}
	return c, nil
}

func (o redisOptions) prepare(c *respConn, deadline time.Time, name string) error {
	switch {
	case o.username != "":
		if err := c.expectOK(deadline, "AUTH", o.username, o.password); err != nil {
			return err
		}
	case o.password != "":
		if err := c.expectOK(deadline, "AUTH", o.password); err != nil {
			return err
		}
	}
	if o.db != 0 {
		if err := c.expectOK(deadline, "SELECT", strconv.Itoa(o.db)); err != nil {
			return err
		}
	}
	if o.wantMaster {
		if err := expectMaster(c, deadline); err != nil {
			return err
		}
	}
	return c.expectOK(deadline, "CLIENT", "SETNAME", name)
}

// expectMaster fails unless ROLE says master.
func expectMaster(c *respConn, deadline time.Time) error {
	reply, err := exchange(c, string(appendCommand(nil, []string{"ROLE"})), 1, deadline)
	if err != nil {
		return err
	}
	role, _ := reply.([]interface{})
	if len(role) == 0 {
		return protocolError("ROLE did not answer a list")
	}
	if name := replyText(role[0]); name != "master" {
		return errors.New("redis: the node the sentinels named is not a master (ROLE " + name + ")")
	}
	return nil
}
