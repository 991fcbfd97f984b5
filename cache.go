package sessionjwt

import (
	"container/list"
	"fmt"
	"strconv"
	"sync"
	"time"
)

// sessionCache is a bounded least-recently-used map from Redis key to session. Only sessions that
// authenticate are stored: an unknown session is asked of Redis every time, so a new one works at once.
type sessionCache struct {
	mu      sync.Mutex
	size    int
	ttl     int64 // cacheTTL in nanoseconds: no entry lives longer
	entries map[string]*session
	lru     *list.List // of *session; front: most recently used
	used    int64      // Unix nanoseconds of the last lookup or store, guarded by mu
}

// Like pools, caches live at package level: one per Redis settings and size, shared by middlewares and
// kept across reloads. A cache nobody has used for its cacheTTL holds only expired entries: the janitor
// drops it, so caches of replaced configurations do not keep their memory.
var (
	cachesMu sync.Mutex
	caches   = map[string]*sessionCache{}
)

func sharedCache(identity string, size int, ttl time.Duration) *sessionCache {
	startJanitor()
	key := identity + "\x00" + strconv.Itoa(size)
	cachesMu.Lock()
	defer cachesMu.Unlock()
	c := caches[key]
	if c == nil {
		c = &sessionCache{size: size, ttl: int64(ttl), entries: map[string]*session{}, lru: list.New(),
			used: time.Now().UnixNano()}
		caches[key] = c
	}
	return c
}

// sweepCaches drops the caches not used for their cacheTTL. A middleware that still holds one goes on
// using it; a new one with the same settings gets a fresh cache.
func sweepCaches(now time.Time) {
	cachesMu.Lock()
	defer cachesMu.Unlock()
	for key, c := range caches {
		c.mu.Lock()
		unused := now.UnixNano()-c.used >= c.ttl
		c.mu.Unlock()
		if unused {
			delete(caches, key)
		}
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

func cachePut(c *sessionCache, s *session) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.used = s.read
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

// cacheSettings validates cacheTTL and cacheSize; 0 when the cache is off (no cacheTTL).
func cacheSettings(c *Config) (time.Duration, error) {
	if c.CacheTTL == "" {
		return 0, nil
	}
	ttl, err := positiveDuration("cacheTTL", c.CacheTTL, "10s")
	if err != nil {
		return 0, err
	}
	if c.CacheSize < 1 {
		return 0, fmt.Errorf("cacheSize %d must be at least 1", c.CacheSize)
	}
	return ttl, nil
}
