package sessionjwt

import (
	"container/list"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// sessionCache is a bounded least-recently-used map from Redis key to session. Only sessions that
// authenticate are stored: an unknown session is asked of Redis every time, so a new one works at once.
// With a tracker (cacheInvalidation: tracking, invalidation.go) entries are dropped as soon as Redis
// reports their key changed, and the cache is empty and bypassed while that report could be lost.
type sessionCache struct {
	mu      sync.Mutex
	key     string // in caches
	size    int
	ttl     int64 // cacheTTL in nanoseconds: no entry lives longer
	entries map[string]*session
	lru     *list.List // of *session; front: most recently used
	used    int64      // Unix nanoseconds of the last lookup or store, guarded by mu

	tracking *cacheTracking // nil: entries live until cacheTTL (cacheInvalidation: ttl)
	// joined is the key of the tracker it joined in trackers, guarded by mu; "" while detached. (A key, not
	// a *tracker: Yaegi cannot resolve two struct types that point at each other.)
	joined string
	// epoch counts invalidations and changes of the tracker's state. A read stores its session only if
	// nothing that concerns its key happened after the read was sent (see cacheEpochFor, cachePut):
	// neither an invalidation of the key (recent) nor one of everything (cleared).
	epoch   int64
	cleared int64            // the epoch of the last flush, change of state, or forgetting of recent
	recent  map[string]int64 // the epoch at which each key was last invalidated, since cleared
	bypass  bool             // nothing is stored: the tracker is not subscribed
	// detached: not (or no longer) in caches and in its tracker: new, since tracking starts with the first
	// read (New does no network I/O), or dropped by the janitor as unused. The next read attaches it.
	detached atomic.Bool
}

// cacheTracking is what a cache with invalidation needs to reach its tracker.
type cacheTracking struct {
	opts     redisOptions  // the endpoint, or the data nodes' settings with Sentinel or Cluster
	sentinel *sentinelSet  // nil unless Sentinel
	cluster  *redisCluster // nil unless Cluster
	prefixes []string      // reduced by trackingPrefixes
	key      string        // trackerKey of the two: the tracker's name in trackers
}

// Like pools, caches live at package level: one per Redis settings and size, shared by middlewares and
// kept across reloads. A cache nobody has used for its cacheTTL holds only expired entries: the janitor
// drops it, so caches of replaced configurations do not keep their memory.
var (
	cachesMu sync.Mutex
	caches   = map[string]*sessionCache{}
)

// sharedCache returns the cache of identity and size, creating it on first use; with tracking (not nil)
// a new cache follows Redis through the tracker of its endpoint and prefixes, which identity must name.
func sharedCache(identity string, size int, ttl time.Duration, tracking *cacheTracking) *sessionCache {
	startJanitor()
	key := identity + "\x00" + strconv.Itoa(size)
	cachesMu.Lock()
	c := caches[key]
	created := c == nil
	if created {
		c = &sessionCache{key: key, size: size, ttl: int64(ttl), entries: map[string]*session{}, lru: list.New(),
			used: time.Now().UnixNano(), tracking: tracking, bypass: tracking != nil, recent: map[string]int64{}}
		c.detached.Store(tracking != nil)
		caches[key] = c
	}
	cachesMu.Unlock()
	return c
}

// attachCache puts a detached cache in caches (unless a newer one took its place) and, with tracking, in
// its tracker, starting that when needed. Until the tracker is subscribed the cache stays bypassed.
func attachCache(c *sessionCache) {
	if !c.detached.CompareAndSwap(true, false) {
		return
	}
	cachesMu.Lock()
	if caches[c.key] == nil {
		caches[c.key] = c
	}
	cachesMu.Unlock()
	if c.tracking != nil {
		track(c)
	}
}

// sweepCaches drops the caches not used for their cacheTTL. A middleware that still holds one goes on
// using it; a new one with the same settings gets a fresh cache.
func sweepCaches(now time.Time) {
	var dropped []*sessionCache
	cachesMu.Lock()
	for key, c := range caches {
		c.mu.Lock()
		unused := now.UnixNano()-c.used >= c.ttl
		c.mu.Unlock()
		if unused {
			delete(caches, key)
			if !c.detached.Swap(true) {
				dropped = append(dropped, c) // attached: it leaves its tracker
			}
		}
	}
	cachesMu.Unlock()
	for _, c := range dropped {
		leaveTracker(c)
	}
}

// cacheGet returns the session cached under key unless it has expired (see session.expires).
// On every request's path, so unlocked by hand rather than deferred (docs/yaegi.md).
func cacheGet(c *sessionCache, key string, now int64) *session {
	c.mu.Lock()
	c.used = now
	s := c.entries[key]
	if s != nil {
		if now < s.expires {
			c.lru.MoveToFront(s.element)
		} else {
			cacheRemove(c, s)
			s = nil
		}
	}
	c.mu.Unlock()
	return s
}

// cacheRemove drops an entry; the caller holds c.mu.
func cacheRemove(c *sessionCache, s *session) {
	c.lru.Remove(s.element)
	delete(c.entries, s.key)
}

// cacheEpochFor is the epoch to give cachePut for a read about to be sent; a detached cache is
// attached first.
func cacheEpochFor(c *sessionCache) int64 {
	if c.detached.Load() {
		attachCache(c)
	}
	c.mu.Lock()
	epoch := c.epoch
	c.mu.Unlock()
	return epoch
}

// cachePut stores s, read from Redis when the cache's epoch was epoch, unless an invalidation of its key
// or of everything, or a change of the tracker's state, came in between, or the cache is bypassed.
func cachePut(c *sessionCache, s *session, epoch int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.used = s.read
	if c.bypass || c.cleared > epoch || c.recent[s.key] > epoch {
		return
	}
	if old := c.entries[s.key]; old != nil {
		cacheRemove(c, old)
	}
	s.element = c.lru.PushFront(s)
	c.entries[s.key] = s
	if c.lru.Len() > c.size {
		cacheRemove(c, c.lru.Back().Value.(*session))
	}
}

func cacheDelete(c *sessionCache, key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s := c.entries[key]; s != nil {
		cacheRemove(c, s)
	}
}

// Values of the cacheInvalidation key.
const (
	invalidationTracking = "tracking" // entries dropped when Redis reports their key changed
	invalidationTTL      = "ttl"      // entries live until cacheTTL, whatever happens in Redis
)

// cacheSettings validates cacheTTL, cacheSize and cacheInvalidation: the cache's TTL (0 when the cache
// is off: cacheTTL 0 or empty) and whether it follows Redis.
func cacheSettings(c *Config) (time.Duration, bool, error) {
	switch c.CacheInvalidation {
	case invalidationTracking, invalidationTTL:
	default:
		return 0, false, fmt.Errorf("cacheInvalidation %q is not one of tracking, ttl", c.CacheInvalidation)
	}
	if c.CacheTTL == "" {
		return 0, false, nil
	}
	if d, err := time.ParseDuration(c.CacheTTL); err == nil && d == 0 {
		return 0, false, nil // cacheTTL: 0s turns the cache off
	}
	ttl, err := positiveDuration("cacheTTL", c.CacheTTL, "1m")
	if err != nil {
		return 0, false, err
	}
	if c.CacheSize < 1 {
		return 0, false, fmt.Errorf("cacheSize %d must be at least 1", c.CacheSize)
	}
	return ttl, c.CacheInvalidation == invalidationTracking, nil
}
