package sessionjwt

import (
	"strings"
	"sync"
	"time"
)

// Checking a signature is the most expensive step of a request under Yaegi (about ten interpreted
// statements around seven compiled calls), and a browser sends the same cookie value again and again.
// verifiedCookies remembers values whose signature verified, so a repeated cookie costs one map lookup.
// Only values that verified are stored, keyed by the whole signed value, so nothing unverified can ever
// be answered from here; timestamped values are kept only until they would expire.
type verifiedCookies struct {
	mu      sync.RWMutex
	entries map[string]verifiedCookie
}

type verifiedCookie struct {
	key     string // the session's Redis key: redisKeyPrefix and the session id
	expires int64  // Unix nanoseconds from when it no longer verifies; noExpiry for plain signatures
}

const (
	noExpiry        = int64(1) << 62
	maxVerified     = 10000 // about 2 MB at most; when full, the map starts afresh
	maxVerifiedSize = 512   // longer cookie values are verified every time rather than stored
)

func newVerifiedCookies() *verifiedCookies {
	return &verifiedCookies{entries: map[string]verifiedCookie{}}
}

// ServeHTTP looks a cookie value up in m.verified itself (a call frame there costs more than the lookup)
// and calls verifyCookie for one not remembered or expired.

// verifyCookie checks a cookie value's signature and returns the Redis key of the session it carries, ""
// when the signature is not valid; values that verify are remembered. now is in Unix nanoseconds.
func verifyCookie(m *SessionJWT, value string, now int64) string {
	id, ts, ok := unsign(m.signer, value, time.Unix(0, now))
	if !ok {
		return ""
	}
	key := m.keyPrefix + id
	if len(value) > maxVerifiedSize {
		return key
	}
	e := verifiedCookie{key: key, expires: noExpiry}
	if m.signer.timestamped {
		// Valid while its age in whole seconds is at most maxAge, as itsdangerous counts.
		e.expires = (ts + m.signer.maxAge + 1) * int64(time.Second)
	}
	v := m.verified
	v.mu.Lock()
	if len(v.entries) >= maxVerified {
		v.entries = map[string]verifiedCookie{}
	}
	v.entries[strings.Clone(value)] = e
	v.mu.Unlock()
	return key
}
