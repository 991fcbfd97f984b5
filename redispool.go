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
			opts:  opts,
			key:   key,
			idle:  make(chan *respConn, opts.poolSize),
			freed: make(chan struct{}, 1),
		}
		pools[key] = p
		livePools = append(livePools, p)
	}
	return p
}

var errPoolTimeout = errors.New("redis: no free connection before the deadline")

// redisPool holds at most poolSize connections to one endpoint, counted in open; idle ones wait in idle.
// Every wait, dial and command is bounded by one per-lookup deadline.
//
// The count is a mutex-guarded integer that stops at zero, not tokens in a channel: a pool of tokens was
// seen in Traefik, under cluster failovers and about once in three runs of the e2e suite, to give back a
// token it no longer had, and the give-back then waited forever on the empty channel (a goroutine dump
// showed the request stuck there). The cause was not found, compiled or interpreted tests never showed it;
// a count cannot block, and putIdle closes a connection the idle list has no room for, so that such an
// event costs at most a connection, never a wait.
type redisPool struct {
	opts  redisOptions
	key   string // opts.poolKey()
	idle  chan *respConn
	freed chan struct{} // signalled (without blocking) when a connection closes: a waiter may dial
	down  atomic.Bool   // the last operation failed; logs the start and the end of an outage once each

	mu   sync.Mutex
	open int // connections open, idle or in use: at most opts.poolSize

	retired    bool      // guarded by poolsMu: not in livePools (see retirePool)
	emptySince time.Time // the janitor's own: since when the pool has had no connection open
}

// roundTrip runs encoded commands (replies of them, pipelined) on a pooled connection. A reused connection that fails other than
// by timing out is most likely stale (Redis restarted, or closed it): then every idle connection is
// dropped and the command tried once more on a new one, so a restart costs no failed request.
func roundTrip(p *redisPool, cmd string, replies int, deadline time.Time) (interface{}, error) {
	for attempt := 0; ; attempt++ {
		var c *respConn
		reused := true
		select {
		case idle := <-p.idle:
			c = idle
		default:
			var err error
			if c, reused, err = p.acquire(deadline); err != nil {
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

// acquire returns an idle connection, or dials a new one while fewer than poolSize are open, or waits
// for either until deadline.
func (p *redisPool) acquire(deadline time.Time) (*respConn, bool, error) {
	select {
	case c := <-p.idle:
		return c, true, nil
	default:
	}
	if takeSlot(p) {
		return p.dialSlot(deadline)
	}
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	for {
		select {
		case c := <-p.idle:
			return c, true, nil
		case <-p.freed:
			if takeSlot(p) {
				return p.dialSlot(deadline)
			}
		case <-timer.C:
			return nil, false, errPoolTimeout
		}
	}
}

// takeSlot counts a connection about to be dialed, unless poolSize are open.
func takeSlot(p *redisPool) bool {
	p.mu.Lock()
	ok := p.open < p.opts.poolSize
	if ok {
		p.open++
	}
	p.mu.Unlock()
	return ok
}

// releaseSlot counts a connection closed (or a dial failed) and wakes a waiter.
func releaseSlot(p *redisPool) {
	p.mu.Lock()
	if p.open > 0 {
		p.open--
	}
	p.mu.Unlock()
	select {
	case p.freed <- struct{}{}:
	default:
	}
}

func openConns(p *redisPool) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.open
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

// closeIdle closes p's connections whose last lookup ended idleTimeout ago; the others go back.
func closeIdle(p *redisPool, now time.Time) {
	for n := len(p.idle); n > 0; n-- {
		var c *respConn
		select {
		case idle := <-p.idle:
			c = idle
		default:
			return
		}
		if now.Sub(c.lastDeadline) >= p.opts.idleTimeout {
			p.discard(c)
		} else {
			putIdle(p, c)
		}
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

// putIdle puts c back among p's idle connections, or closes it if they are poolSize already: more
// connections than the count allows (see redisPool) must cost a connection, never a wait.
func putIdle(p *redisPool, c *respConn) {
	select {
	case p.idle <- c:
	default:
		p.discard(c)
	}
}

func (p *redisPool) discard(c *respConn) {
	c.close()
	releaseSlot(p)
}

func (p *redisPool) discardIdle() {
	for {
		select {
		case c := <-p.idle:
			p.discard(c)
		default:
			return
		}
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
