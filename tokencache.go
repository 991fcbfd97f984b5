package sessionjwt

import (
	"strings"
	"sync"
	"time"
)

// API clients send the same JWT for its whole lifetime, and checking it (signature, then the claims'
// JSON) is the most expensive thing a request can cost under Yaegi. verifiedTokens remembers the
// Authorization values that verified, as sessionCookies remembers cookies: a repeated token costs one map
// lookup (in serveToken). Only values that verified are stored, keyed by the whole header value, so nothing unverified
// can be answered from there. An entry serves until the token's exp (with the leeway, as verifyJWT counts)
// and only while no fetched key set has changed since (keysEpoch): a rotated or withdrawn key sends its
// tokens back to verifyJWT. Each middleware has its own, so middlewares that verify differently never
// share one.
type verifiedTokens struct {
	mu      sync.RWMutex
	entries map[string]verifiedToken
	size    int // bytes of the values held, roughly
}

type verifiedToken struct {
	session *session // the header value to forward and the claims
	expires int64    // Unix nanoseconds from when the token no longer verifies
	epoch   int64    // keysEpoch when it verified
}

const (
	maxRememberedTokens    = 16 << 20 // bytes; when full, the memory starts afresh
	maxRememberedTokenSize = 4096     // longer values are verified every time rather than stored
)

// rememberToken stores value, whose token verified with claims at the keys of epoch.
func rememberToken(vt *verifiedTokens, value string, s *session, leeway time.Duration, epoch int64) {
	if len(value) > maxRememberedTokenSize {
		return
	}
	exp, ok := numericDate(s.claims["exp"])
	if !ok {
		return
	}
	e := verifiedToken{session: s, expires: expiresAt(exp + leeway.Seconds()), epoch: epoch}
	// The value, the forwarded header and the claims: about three times the value.
	n := 3 * len(value)
	vt.mu.Lock()
	if vt.size+n > maxRememberedTokens {
		vt.entries = map[string]verifiedToken{}
		vt.size = 0
	}
	key := strings.Clone(value) // not the request's memory
	if s.authorization == value {
		s.authorization = key // the client spelled the scheme as it is forwarded: one copy serves both
	}
	vt.entries[key] = e
	vt.size += n
	vt.mu.Unlock()
}
