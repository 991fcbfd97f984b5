package sessionjwt

import (
	"container/list"
	"encoding/json"
	"time"
)

// session is what a Redis key led to: the JWT to forward and its decoded claims. With the cache on,
// sessions are kept in memory and shared by every middleware using the same Redis settings.
type session struct {
	key           string // the Redis key
	authorization string // the header value forwarded: the JWT after the middleware's header prefix
	claims        map[string]json.RawMessage

	// Times are Unix nanoseconds, compared as integers (docs/yaegi.md).
	read int64 // when it was read from Redis
	// expires is when the session stops authenticating: the end of the Redis key's TTL or the JWT's exp,
	// whichever is first (noExpiry: neither); for a cached session also read plus cacheTTL.
	expires int64
	// redisEnd is when the Redis key expires, 0 when it has no expiry or its TTL was not read.
	redisEnd int64
	// element is the session's place in its cache's LRU list, guarded by the cache's mutex.
	element *list.Element
}

// storedSession checks the JWT Redis holds under key and returns its session, or nil when it does not
// authenticate (not a header-safe JWT, expired, or not verified under jwt.verifyStored). ttl is the key's
// remaining lifetime in milliseconds, -1 when it has none or was not read.
func storedSession(st *sessionStore, key, value string, ttl, now int64) *session {
	d := rememberedClaims(value)
	if d == nil {
		if d = decodeStored(st, value, now); d == nil {
			return nil
		}
	}
	if now >= d.expires || (st.storedVerifier != nil && !storedJWTVerifies(st, value, now)) {
		return nil
	}
	s := &session{key: key, authorization: st.valuePrefix + value, claims: d.claims, read: now,
		expires: d.expires}
	if st.readsTTL {
		keepSession(st, s, ttl)
	}
	return s
}

// keepSession completes a session read with its key's TTL (ttl milliseconds, -1: none), for refresh and
// the cache, ending it at cacheTTL when the cache is on. The TTL is counted from s.read, taken before the command
// went out, so redisEnd is never later than the key's real end.
func keepSession(st *sessionStore, s *session, ttl int64) {
	if ttl >= 0 {
		s.redisEnd = s.read + ttl*int64(time.Millisecond)
		if s.redisEnd < s.expires {
			s.expires = s.redisEnd
		}
	}
	if st.cache != nil {
		if end := s.read + st.cacheTTL; end < s.expires {
			s.expires = end
		}
	}
}

// decodeStored decodes a stored JWT that is not remembered (see decodeAndRemember), after checking it
// can be a header value at all; nil when it does not authenticate: not header-safe, not a JWT, expired.
func decodeStored(st *sessionStore, value string, now int64) *decodedJWT {
	if !headerSafe(value) {
		logf("middleware %s: the value stored for a session is not a single line of printable ASCII; "+
			"treating the request as unauthenticated", st.name)
		return nil
	}
	return decodeAndRemember(value, now)
}

// storedJWTVerifies checks a stored JWT's signature and registered claims (jwt.verifyStored).
func storedJWTVerifies(st *sessionStore, value string, now int64) bool {
	if _, reason := verifyJWT(st.storedVerifier, value, time.Unix(0, now)); reason != "" {
		logf("middleware %s: a JWT stored in Redis did not verify (%s); treating the request as unauthenticated", st.name, reason)
		return false
	}
	return true
}
