package sessionjwt

import (
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Redis Cluster: keys live on the master of their hash slot, CRC16 of the key (or of its {hash tag})
// modulo 16384. The slot map comes from the cluster (CLUSTER SHARDS, or CLUSTER SLOTS before Redis 7),
// read from a known master or a seed on the first lookup and again, in the background and at most every
// clusterRefreshInterval, after a redirection, a CLUSTERDOWN or a failed node. A lookup follows
//
//   - MOVED <slot> <node>: the slot has moved for good: the map learns it at once, the lookup retries;
//   - ASK <slot> <node>: the slot is being migrated and the key may be there already: one retry on that
//     node, preceded by ASKING in the same write, without changing the map;
//   - TRYAGAIN and CLUSTERDOWN (a migration of several keys, a master being replaced): retries after
//     clusterRetryWait, while the lookup's deadline allows.
//
// Every node has a pool of its own (redispool.go); the whole lookup, redirections included, stays within
// the one deadline. GET and PTTL of one key go to one slot, so they stay one pipelined round trip.

const (
	clusterSlots           = 16384
	clusterRefreshInterval = 100 * time.Millisecond
	clusterRetryWait       = 20 * time.Millisecond
	clusterMaxRedirects    = 5
)

// redisCluster is one Redis Cluster as the middlewares configured with it reach it.
type redisCluster struct {
	key   string
	seeds []string
	data  redisOptions // the nodes' settings; at() gives one node's

	mu      sync.Mutex
	slots   []*redisPool // the master of each slot, nil when none; replaced whole, never changed in place
	masters []string     // the masters' addresses in slots, sorted: what invalidation subscribes to
	moved   int          // the slot of the last MOVED, until a refresh agrees with it
	movedTo *redisPool   // its master; nil when none waits

	used          atomic.Int64 // unix nanoseconds of the last lookup: the janitor drops an unused cluster
	refreshing    atomic.Bool  // a background refresh runs
	refreshWanted atomic.Bool  // one was asked for since it last read the map
	lastRefresh   atomic.Int64 // unix nanoseconds
}

var (
	clustersMu sync.Mutex
	clusters   = map[string]*redisCluster{}
)

// sharedCluster returns the cluster for these settings, creating it (without dialing) on first use.
func sharedCluster(data redisOptions, seeds []string) *redisCluster {
	startJanitor()
	key := "cluster\x00" + strings.Join(seeds, ",") + "\x00" + data.poolKey()
	clustersMu.Lock()
	defer clustersMu.Unlock()
	c := clusters[key]
	if c == nil {
		c = &redisCluster{key: key, seeds: seeds, data: data}
		c.used.Store(time.Now().UnixNano())
		clusters[key] = c
	}
	return c
}

// sweepClusters drops the clusters no lookup used for their idle timeout, with their slot maps: those of
// replaced configurations. A middleware that still holds one goes on using it.
func sweepClusters(now time.Time) {
	clustersMu.Lock()
	defer clustersMu.Unlock()
	for key, c := range clusters {
		if now.Sub(time.Unix(0, c.used.Load())) >= c.data.idleTimeout {
			delete(clusters, key)
		}
	}
}

var crc16Table = makeCRC16Table()

// makeCRC16Table is the table of CRC16/XMODEM (polynomial 0x1021), the one Redis Cluster uses.
func makeCRC16Table() [256]uint16 {
	var t [256]uint16
	for i := range t {
		crc := uint16(i) << 8
		for b := 0; b < 8; b++ {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
		t[i] = crc
	}
	return t
}

// keySlot is the hash slot of key: of the part between the first { and the next } when that is not empty.
func keySlot(key string) int {
	if open := strings.IndexByte(key, '{'); open >= 0 {
		if end := strings.IndexByte(key[open+1:], '}'); end > 0 {
			key = key[open+1 : open+1+end]
		}
	}
	var crc uint16
	for i := 0; i < len(key); i++ {
		crc = crc<<8 ^ crc16Table[byte(crc>>8)^key[i]]
	}
	return int(crc) % clusterSlots
}

// askingCmd precedes a command sent to the node an ASK redirection names.
const askingCmd = "*1\r\n$6\r\nASKING\r\n"

// clusterRoundTrip is roundTrip on the master of key's slot, following redirections.
func clusterRoundTrip(c *redisCluster, key, cmd string, replies int, deadline time.Time) (interface{}, error) {
	c.used.Store(time.Now().UnixNano())
	slot := keySlot(key)
	p, err := slotMaster(c, slot, deadline)
	if err != nil {
		return nil, err
	}
	asking := false
	for redirects := 0; ; {
		var reply interface{}
		if asking {
			reply, err = roundTrip(p, askingCmd+cmd, replies+1, deadline)
			reply, err = withoutAsking(reply, err, replies)
		} else {
			reply, err = roundTrip(p, cmd, replies, deadline)
		}
		kind, addr := redirection(reply, err, replies)
		switch kind {
		case "":
			if err != nil && !isReplyError(err) {
				scheduleRefresh(c) // the node failed: a replica may be taking over
			}
			return reply, err
		case "MOVED", "ASK":
			if redirects++; redirects > clusterMaxRedirects {
				return reply, err
			}
			p = sharedPool(c.data.at(addr))
			asking = kind == "ASK"
			if !asking {
				setSlot(c, slot, p)
				scheduleRefresh(c)
			}
		default: // TRYAGAIN, CLUSTERDOWN
			if kind == "CLUSTERDOWN" {
				scheduleRefresh(c)
			}
			if time.Until(deadline) < 2*clusterRetryWait {
				return reply, err
			}
			time.Sleep(clusterRetryWait)
			asking = false
		}
	}
}

func isReplyError(err error) bool {
	_, isReply := err.(redisError)
	return isReply
}

// redirection returns the kind of a cluster error reply to the lookup (MOVED, ASK, TRYAGAIN,
// CLUSTERDOWN), and the node a redirection names; "" for any other outcome.
func redirection(reply interface{}, err error, replies int) (string, string) {
	var re redisError
	if replies == 1 {
		re, _ = err.(redisError)
	} else if all, isList := reply.([]interface{}); isList && len(all) > 0 {
		re, _ = all[0].(redisError)
	}
	if re == "" {
		return "", ""
	}
	fields := strings.Fields(string(re))
	switch fields[0] {
	case "MOVED", "ASK":
		if len(fields) == 3 {
			return fields[0], fields[2]
		}
	case "TRYAGAIN", "CLUSTERDOWN":
		return fields[0], ""
	}
	return "", ""
}

// withoutAsking drops ASKING's reply from the replies of ASKING plus the command.
func withoutAsking(reply interface{}, err error, replies int) (interface{}, error) {
	if err != nil {
		return nil, err
	}
	all := reply.([]interface{})
	// The string first: under Yaegi a plain string (+OK) also asserts as a redisError (docs/yaegi.md).
	if ok, _ := all[0].(string); ok != "OK" {
		if re, failed := all[0].(redisError); failed {
			return nil, re
		}
		return nil, protocolError("ASKING did not answer OK")
	}
	if replies > 1 {
		return all[1:], nil
	}
	if re, isErr := all[1].(redisError); isErr {
		return nil, re
	}
	return all[1], nil
}

// slotMaster returns the pool of slot's master, reading the slot map first when there is none.
func slotMaster(c *redisCluster, slot int, deadline time.Time) (*redisPool, error) {
	c.mu.Lock()
	slots := c.slots
	c.mu.Unlock()
	if slots == nil {
		var err error
		if slots, err = refreshSlots(c, deadline); err != nil {
			return nil, err
		}
	}
	if p := slots[slot]; p != nil {
		return p, nil
	}
	scheduleRefresh(c)
	return nil, fmt.Errorf("redis cluster: no master serves slot %d", slot)
}

// setSlot records that slot's master is p, in a new copy of the map, and remembers it until a refresh
// agrees: a node asked right after a failover may not have heard of it yet.
func setSlot(c *redisCluster, slot int, p *redisPool) {
	c.mu.Lock()
	if c.slots != nil && c.slots[slot] != p {
		slots := make([]*redisPool, clusterSlots)
		copy(slots, c.slots)
		slots[slot] = p
		c.slots = slots
	}
	c.moved = slot
	c.movedTo = p
	c.mu.Unlock()
}

// scheduleRefresh has the slot map read again in the background: at once, or clusterRefreshInterval
// after the last read. A request while one is under way is kept for after it: the map it reads may
// predate the change that asked.
func scheduleRefresh(c *redisCluster) {
	c.refreshWanted.Store(true)
	if c.refreshing.CompareAndSwap(false, true) {
		go refreshInBackground(c)
	}
}

func refreshInBackground(c *redisCluster) {
	for {
		for c.refreshWanted.Swap(false) {
			if wait := time.Duration(c.lastRefresh.Load() + int64(clusterRefreshInterval) - time.Now().UnixNano()); wait > 0 {
				time.Sleep(wait)
			}
			refreshSlots(c, time.Now().Add(c.data.timeout))
		}
		c.refreshing.Store(false)
		// A request between the last Swap and the Store found refreshing set: take it up.
		if !c.refreshWanted.Load() || !c.refreshing.CompareAndSwap(false, true) {
			return
		}
	}
}

// refreshSlots reads the slot map from the first node that answers: the known masters, then the seeds,
// each within its share of what is left of the deadline. A change of the masters restarts the cluster's
// invalidation channels, which subscribe on every master.
func refreshSlots(c *redisCluster, deadline time.Time) ([]*redisPool, error) {
	c.lastRefresh.Store(time.Now().UnixNano())
	c.mu.Lock()
	nodes := append(append([]string(nil), c.masters...), c.seeds...)
	c.mu.Unlock()
	var lastErr error
	for i, addr := range nodes {
		if contains(nodes[:i], addr) {
			continue
		}
		share := time.Until(deadline) / time.Duration(len(nodes)-i)
		ranges, err := readSlotMap(sharedPool(c.data.at(addr)), addr, time.Now().Add(share))
		if err != nil {
			lastErr = err
			continue
		}
		return adoptSlotMap(c, ranges), nil
	}
	return nil, fmt.Errorf("redis cluster: no node answered with the slot map: %w", lastErr)
}

// slotRange is a range of slots and the address of their master.
type slotRange struct {
	first, last int
	master      string
}

// adoptSlotMap makes ranges the slot map of c.
func adoptSlotMap(c *redisCluster, ranges []slotRange) []*redisPool {
	slots := make([]*redisPool, clusterSlots)
	byAddr := map[string]*redisPool{}
	var masters []string
	for _, r := range ranges {
		p := byAddr[r.master]
		if p == nil {
			p = sharedPool(c.data.at(r.master))
			byAddr[r.master] = p
			masters = append(masters, r.master)
		}
		for s := r.first; s <= r.last; s++ {
			slots[s] = p
		}
	}
	sort.Strings(masters)
	c.mu.Lock()
	stale := c.movedTo != nil && slots[c.moved] != c.movedTo // the node asked has not heard of a MOVED yet
	if stale {
		slots[c.moved] = c.movedTo
	} else {
		c.movedTo = nil
	}
	// The first map subscribes nobody anew: trackers read it before they subscribe.
	changed := c.masters != nil && strings.Join(masters, ",") != strings.Join(c.masters, ",")
	c.slots = slots
	c.masters = masters
	c.mu.Unlock()
	if changed {
		restartTrackers(c.key)
	}
	if stale {
		scheduleRefresh(c)
	}
	return slots
}

// clusterMasters returns the masters' addresses, reading the slot map first when there is none.
func clusterMasters(c *redisCluster, deadline time.Time) ([]string, error) {
	c.mu.Lock()
	masters := c.masters
	c.mu.Unlock()
	if masters != nil {
		return masters, nil
	}
	if _, err := refreshSlots(c, deadline); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.masters, nil
}

// readSlotMap asks the node at addr for the slot map: CLUSTER SHARDS, or CLUSTER SLOTS where that is
// unknown (before Redis 7).
func readSlotMap(p *redisPool, addr string, deadline time.Time) ([]slotRange, error) {
	host, _, _ := net.SplitHostPort(addr)
	tls := p.opts.tlsConfig != nil
	reply, err := roundTrip(p, string(appendCommand(nil, []string{"CLUSTER", "SHARDS"})), 1, deadline)
	if err == nil {
		return parseShards(reply, host, tls)
	}
	if !isReplyError(err) {
		return nil, err
	}
	reply, err = roundTrip(p, string(appendCommand(nil, []string{"CLUSTER", "SLOTS"})), 1, deadline)
	if err != nil {
		return nil, err
	}
	return parseSlots(reply, host)
}

var errSlotMap = protocolError("the cluster's slot map is not what CLUSTER SHARDS or SLOTS answer")

// parseShards reads CLUSTER SHARDS: per shard, "slots" (pairs of first and last slot) and "nodes" (each
// a list of field names and values), of which the one with role master serves the slots.
func parseShards(reply interface{}, host string, tls bool) ([]slotRange, error) {
	shards, ok := reply.([]interface{})
	if !ok {
		return nil, errSlotMap
	}
	var out []slotRange
	for _, shard := range shards {
		fields := fieldMap(shard)
		if fields == nil {
			return nil, errSlotMap
		}
		bounds, _ := fields["slots"].([]interface{})
		nodes, _ := fields["nodes"].([]interface{})
		master := ""
		for _, node := range nodes {
			nf := fieldMap(node)
			if replyText(nf["role"]) == "master" {
				master = nodeAddress(nf, host, tls)
			}
		}
		if master == "" || len(bounds)%2 != 0 {
			continue // a shard without a master or slots serves nothing
		}
		for i := 0; i < len(bounds); i += 2 {
			first, ok1 := bounds[i].(int64)
			last, ok2 := bounds[i+1].(int64)
			if !ok1 || !ok2 || first < 0 || last >= clusterSlots || first > last {
				return nil, errSlotMap
			}
			out = append(out, slotRange{int(first), int(last), master})
		}
	}
	return out, nil
}

// nodeAddress is the address a node of CLUSTER SHARDS is reached at: its endpoint (its ip when that is
// empty, the host asked when both are) and port (its TLS port with TLS). "" when it has none ("?").
func nodeAddress(fields map[string]interface{}, host string, tls bool) string {
	name := replyText(fields["endpoint"])
	if name == "" {
		name = replyText(fields["ip"])
	}
	if name == "" {
		name = host
	}
	port, _ := fields["port"].(int64)
	if tlsPort, _ := fields["tls-port"].(int64); tls && tlsPort > 0 {
		port = tlsPort
	}
	if name == "?" || port <= 0 {
		return ""
	}
	return net.JoinHostPort(name, strconv.FormatInt(port, 10))
}

// parseSlots reads CLUSTER SLOTS: per range, first slot, last slot, then the master (host, port, ...)
// and its replicas.
func parseSlots(reply interface{}, host string) ([]slotRange, error) {
	ranges, ok := reply.([]interface{})
	if !ok {
		return nil, errSlotMap
	}
	var out []slotRange
	for _, r := range ranges {
		entry, _ := r.([]interface{})
		if len(entry) < 3 {
			return nil, errSlotMap
		}
		first, ok1 := entry[0].(int64)
		last, ok2 := entry[1].(int64)
		master, _ := entry[2].([]interface{})
		if !ok1 || !ok2 || len(master) < 2 || first < 0 || last >= clusterSlots || first > last {
			return nil, errSlotMap
		}
		name := replyText(master[0])
		port, _ := master[1].(int64)
		if name == "" {
			name = host
		}
		if name == "?" || port <= 0 {
			continue
		}
		out = append(out, slotRange{int(first), int(last), net.JoinHostPort(name, strconv.FormatInt(port, 10))})
	}
	return out, nil
}

// fieldMap reads a reply that lists field names and values in turn; nil when it is not one.
func fieldMap(reply interface{}) map[string]interface{} {
	list, ok := reply.([]interface{})
	if !ok || len(list)%2 != 0 {
		return nil
	}
	m := make(map[string]interface{}, len(list)/2)
	for i := 0; i < len(list); i += 2 {
		m[replyText(list[i])] = list[i+1]
	}
	return m
}

// replyText is a bulk or simple string reply as a string, "" for anything else.
func replyText(v interface{}) string {
	switch s := v.(type) {
	case []byte:
		return string(s)
	case string:
		return s
	}
	return ""
}
