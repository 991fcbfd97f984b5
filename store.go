package sessionjwt

import (
	"strconv"
	"time"
)

// The session store is the one place the datastore is reached. Sessions (by cookie) and opaque tokens
// are both read through it: a key's value and, when refresh or the cache need it, its remaining lifetime,
// within one deadline per lookup. Behind it is one Redis endpoint (a shared pool), the master of a
// Sentinel set (sentinel.go) or a Redis Cluster (cluster.go); the cache and what keeps it in step with
// Redis (cache.go, invalidation.go) plug in here too. Nothing else in the package reads Redis.

// sessionStore is the datastore of one middleware, with its cache and the rules for what a stored
// value must be to authenticate.
type sessionStore struct {
	redis    *redisPool    // one endpoint; nil with Sentinel or Cluster
	sentinel *sentinelSet  // or the master the sentinels name
	cluster  *redisCluster // or a cluster
	timeout  int64         // redisTimeout in nanoseconds: the deadline of one lookup
	poolKey  string        // the Redis settings, naming what middlewares share (pools, caches, refreshes)
	readsTTL bool          // refresh or cache: values are read with their key's TTL

	cache    *sessionCache // nil: no cache
	cacheTTL int64         // nanoseconds

	valuePrefix    string       // headerType and a space, or "": a session holds the header value
	storedVerifier *jwtVerifier // jwt.verifyStored: stored JWTs must verify too; else nil
	name           string       // the middleware's, for log lines
}

// newSessionStore validates the Redis keys (redisSettings) and the cache keys, and shares the pool and the
// cache with every middleware reading the same Redis the same way.
func newSessionStore(c *Config, name, valuePrefix string, storedVerifier *jwtVerifier, refreshes bool) (*sessionStore, error) {
	topo, err := redisSettings(c)
	if err != nil {
		return nil, err
	}
	cacheTTL, tracked, err := cacheSettings(c)
	if err != nil {
		return nil, err
	}
	opts := topo.opts
	st := &sessionStore{
		timeout:        int64(opts.timeout),
		readsTTL:       refreshes || cacheTTL > 0,
		cacheTTL:       int64(cacheTTL),
		valuePrefix:    valuePrefix,
		storedVerifier: storedVerifier,
		name:           name,
	}
	switch {
	case topo.sentinel != nil:
		st.sentinel = sharedSentinelSet(opts, topo.sentinel)
		st.poolKey = st.sentinel.key
	case topo.clusterSeeds != nil:
		st.cluster = sharedCluster(opts, topo.clusterSeeds)
		st.poolKey = st.cluster.key
	default:
		st.redis = sharedPool(opts)
		st.poolKey = opts.poolKey()
	}
	if cacheTTL > 0 {
		// Middlewares share a cache when they read the same Redis and would cache the same sessions the
		// same way: the same header prefix (sessions hold the header value), cacheTTL (entries end at
		// it), and, when they verify stored JWTs, the same trust.
		identity := st.poolKey + "\x00" + valuePrefix + "\x00" + cacheTTL.String()
		if storedVerifier != nil {
			identity += "\x00verified by " + storedVerifier.trust
		}
		var tracking *cacheTracking
		if tracked {
			// Invalidation covers the keys the cache holds: sessions, and opaque tokens when accepted.
			prefixes := []string{c.RedisKeyPrefix}
			if c.BearerKeyPrefix != "" {
				prefixes = append(prefixes, c.BearerKeyPrefix)
			}
			reduced := trackingPrefixes(prefixes)
			tracking = &cacheTracking{opts: opts, sentinel: st.sentinel, cluster: st.cluster,
				prefixes: reduced, key: trackerKey(st.poolKey, reduced)}
			identity += "\x00" + tracking.key
		}
		st.cache = sharedCache(identity, c.CacheSize, cacheTTL, tracking)
	}
	return st, nil
}

// lookupSession returns the session stored under key: from the cache when it holds it, else from Redis.
// ServeHTTP has the same lines written out for cookies.
func lookupSession(st *sessionStore, key string, now int64) (*session, error) {
	if st.cache != nil {
		if s := cacheGet(st.cache, key, now); s != nil {
			return s, nil
		}
	}
	return readSession(st, key, now)
}

// readSession reads the session stored under key from Redis, and caches it when the cache is on. It
// returns nil for a key that does not authenticate (absent, not a header-safe JWT, expired) and an error
// when Redis could not answer.
func readSession(st *sessionStore, key string, now int64) (*session, error) {
	deadline := time.Unix(0, now+st.timeout)
	if st.readsTTL {
		return readSessionWithTTL(st, key, now, deadline)
	}
	jwt, err := redisGet(st, key, deadline)
	if err != nil || jwt == nil {
		return nil, err
	}
	return storedSession(st, key, string(jwt), -1, now), nil
}

// readSessionWithTTL is readSession for a middleware that refreshes sessions or caches them: both need
// each key's TTL, read in the same round trip as its value.
// With the cache on, the session is stored in it unless the key changed while the read was under way.
func readSessionWithTTL(st *sessionStore, key string, now int64, deadline time.Time) (*session, error) {
	var epoch int64
	if st.cache != nil {
		epoch = cacheEpochFor(st.cache)
	}
	jwt, ttl, err := redisGetTTL(st, key, deadline)
	if err != nil || jwt == nil {
		return nil, err
	}
	s := storedSession(st, key, string(jwt), ttl, now)
	if s != nil && st.cache != nil {
		cachePut(st.cache, s, epoch)
	}
	return s, nil
}

// haRoundTrip runs encoded commands about key (roundTrip) on the node of a Sentinel set or a cluster that
// holds key. A single endpoint's pool is called directly, one interpreted call less per lookup.
func haRoundTrip(st *sessionStore, key, cmd string, replies int, deadline time.Time) (interface{}, error) {
	if st.sentinel != nil {
		return sentinelRoundTrip(st.sentinel, cmd, replies, deadline)
	}
	return clusterRoundTrip(st.cluster, key, cmd, replies, deadline)
}

// redisGet returns the value stored at key, nil when there is none, before the caller's deadline.
func redisGet(st *sessionStore, key string, deadline time.Time) ([]byte, error) {
	if st.redis == nil {
		return haGet(st, key, deadline)
	}
	// One concatenation encodes the command: a few interpreted statements, whatever the key.
	reply, err := roundTrip(st.redis, "*2\r\n$3\r\nGET\r\n$"+strconv.Itoa(len(key))+"\r\n"+key+"\r\n", 1, deadline)
	if value, isBulk := reply.([]byte); isBulk || err != nil || reply == nil {
		return value, err
	}
	return getValue(reply) // the error
}

// haGet is redisGet through Sentinel or Cluster. Its own function, not a branch of redisGet: under Yaegi
// every expression of a function body costs on every call (docs/yaegi.md), so a single Redis's lookup
// does not pay for these lines.
func haGet(st *sessionStore, key string, deadline time.Time) ([]byte, error) {
	reply, err := haRoundTrip(st, key, "*2\r\n$3\r\nGET\r\n$"+strconv.Itoa(len(key))+"\r\n"+key+"\r\n", 1, deadline)
	if value, isBulk := reply.([]byte); isBulk || err != nil || reply == nil {
		return value, err
	}
	return getValue(reply)
}

// redisGetTTL is redisGet plus the key's remaining lifetime in milliseconds (-1: no expiry, -2: no key),
// both read in one round trip: GET and PTTL go out pipelined in one write. Milliseconds, not TTL's whole
// seconds: TTL rounds 2.6 s up to 3, and a session cached for that long would outlive its key. A PTTL
// refused by the server (an ACL without it) reads as -1.
func redisGetTTL(st *sessionStore, key string, deadline time.Time) ([]byte, int64, error) {
	arg := "$" + strconv.Itoa(len(key)) + "\r\n" + key + "\r\n"
	cmd := "*2\r\n$3\r\nGET\r\n" + arg + "*2\r\n$4\r\nPTTL\r\n" + arg
	var reply interface{}
	var err error
	if st.redis != nil {
		reply, err = roundTrip(st.redis, cmd, 2, deadline)
	} else {
		reply, err = haRoundTrip(st, key, cmd, 2, deadline)
	}
	if err != nil {
		return nil, 0, err
	}
	pair := reply.([]interface{})
	if re, isErr := pair[0].(redisError); isErr {
		return nil, 0, re
	}
	value, err := getValue(pair[0])
	ttl, ok := pair[1].(int64)
	if !ok {
		ttl = -1
	}
	return value, ttl, err
}

func getValue(reply interface{}) ([]byte, error) {
	switch v := reply.(type) {
	case []byte:
		return v, nil
	case nil:
		return nil, nil
	}
	return nil, protocolError("GET answered neither a bulk string nor nil")
}
