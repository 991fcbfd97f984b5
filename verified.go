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
	sessionID string
	expires   int64 // Unix seconds; noExpiry for plain (untimestamped) signatures
}

const (
	noExpiry        = int64(1) << 62
	maxVerified     = 10000 // about 2 MB at most; when full, the map starts afresh
	maxVerifiedSize = 512   // longer cookie values are verified every time rather than stored
)

func newVerifiedCookies() *verifiedCookies {
	return &verifiedCookies{entries: map[string]verifiedCookie{}}
}

// sessionFromCookie returns the session id a cookie value carries, when its signature is valid.
func sessionFromCookie(m *SessionJWT, value string, now time.Time) (string, bool) {
	v := m.verified
	v.mu.RLock()
	e, ok := v.entries[value]
	v.mu.RUnlock()
	if ok && (e.expires == noExpiry || now.Unix() <= e.expires) {
		return e.sessionID, true
	}
	id, ts, ok := unsign(m.signer, value, now)
	if !ok || len(value) > maxVerifiedSize {
		return id, ok
	}
	e = verifiedCookie{sessionID: strings.Clone(id), expires: noExpiry}
	if m.signer.timestamped {
		e.expires = ts + m.signer.maxAge
	}
	v.mu.Lock()
	if len(v.entries) >= maxVerified {
		v.entries = map[string]verifiedCookie{}
	}
	v.entries[strings.Clone(value)] = e
	v.mu.Unlock()
	return id, true
}
