package sessionjwt

import (
	"container/list"
	"encoding/json"
	"strconv"
	"sync"
	"time"
)

// session is what a Redis key led to: the JWT to forward and its decoded claims. With the cache on,
// sessions are kept in memory and shared by every middleware using the same Redis settings.
type session struct {
	key    string // the Redis key
	jwt    string
	claims map[string]json.RawMessage

	// Times are Unix nanoseconds: under Yaegi, integer comparisons cost a fraction of time.Time's methods.
	read    int64 // when it was read from Redis
	expires int64 // the end of the Redis key's TTL, or the JWT's exp, whichever is first; 0: neither
	// redisEnd is when the Redis key expires, 0 when it has no expiry or its TTL was not read.
	redisEnd int64
	// verifiedBy is the jwt block that verified the JWT (jwt.verifyStored), nil when none did.
	verifiedBy *jwtVerifier
}

// sessionCache is a bounded least-recently-used map from Redis key to session. Only sessions that
// authenticate are stored: an unknown session is asked of Redis every time, so a new one works at once.
type sessionCache struct {
	mu      sync.Mutex
	size    int
	entries map[string]*list.Element // of *session
	lru     *list.List               // front: most recently used
}

// Like pools, caches live at package level: one per Redis settings and size, shared by middlewares and
// kept across reloads.
var (
	cachesMu sync.Mutex
	caches   = map[string]*sessionCache{}
)

func sharedCache(poolKey string, size int) *sessionCache {
	key := poolKey + "\x00" + strconv.Itoa(size)
	cachesMu.Lock()
	defer cachesMu.Unlock()
	c := caches[key]
	if c == nil {
		c = &sessionCache{size: size, entries: map[string]*list.Element{}, lru: list.New()}
		caches[key] = c
	}
	return c
}

// cacheGet returns the session cached under key when it is younger than maxAge and has not expired.
// maxAge is the reader's own cacheTTL: middlewares sharing a cache may have different ones.
// It is on every request's path, so it unlocks by hand: a defer costs the interpreter more than the rest.
func cacheGet(c *sessionCache, key string, now int64, maxAge time.Duration) *session {
	c.mu.Lock()
	el := c.entries[key]
	if el == nil {
		c.mu.Unlock()
		return nil
	}
	s := el.Value.(*session)
	if now-s.read >= int64(maxAge) || (s.expires != 0 && now >= s.expires) {
		c.lru.Remove(el)
		delete(c.entries, key)
		c.mu.Unlock()
		return nil
	}
	c.lru.MoveToFront(el)
	c.mu.Unlock()
	return s
}

func cachePut(c *sessionCache, s *session) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el := c.entries[s.key]; el != nil {
		el.Value = s
		c.lru.MoveToFront(el)
		return
	}
	c.entries[s.key] = c.lru.PushFront(s)
	if c.lru.Len() > c.size {
		oldest := c.lru.Back()
		c.lru.Remove(oldest)
		evicted := oldest.Value.(*session)
		delete(c.entries, evicted.key)
	}
}

func cacheDelete(c *sessionCache, key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el := c.entries[key]; el != nil {
		c.lru.Remove(el)
		delete(c.entries, key)
	}
}
