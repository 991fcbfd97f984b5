package sessionjwt

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"
)

// sessionCookies is the session cookie of one middleware: its name, how it is signed, and the Redis key
// prefix of the session ids it carries.
//
// Checking a signature is the most expensive step of a request under Yaegi (about ten interpreted
// statements around seven compiled calls), and a browser sends the same cookie value again and again.
// verified remembers values whose signature verified, so a repeated cookie costs one map lookup (done in
// ServeHTTP itself). Only values that verified are stored, keyed by the whole signed value, so nothing
// unverified can ever be answered from there; timestamped values are kept only until they would expire.
type sessionCookies struct {
	name      string
	signer    *signer
	keyPrefix string
	// remove is removeSessionCookie: the cookie is taken out of the request before it goes on.
	remove bool
	// keepAuthorization is existingAuthorization keep: a request that carries Authorization is judged
	// by it alone, its session cookie unused.
	keepAuthorization bool

	mu       sync.RWMutex
	verified map[string]verifiedCookie
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

// newSessionCookies validates the cookie keys: cookieName, the secrets, signatureAlgorithm, salt,
// keyDerivation, separator, maxAge, and redisKeyPrefix.
func newSessionCookies(c *Config) (*sessionCookies, error) {
	if !isToken(c.CookieName) {
		return nil, fmt.Errorf("cookieName %q is not a valid cookie name", c.CookieName)
	}
	secrets, err := readSecrets(c)
	if err != nil {
		return nil, err
	}
	var maxAge time.Duration
	if c.MaxAge != "" {
		if maxAge, err = time.ParseDuration(c.MaxAge); err != nil || maxAge < time.Second {
			return nil, fmt.Errorf("maxAge %q is not a Go duration of at least 1s (e.g. \"12h\")", c.MaxAge)
		}
	}
	sig, err := newSigner(secrets, c.Salt, c.KeyDerivation, strings.ToLower(c.SignatureAlgorithm), c.Separator, maxAge)
	if err != nil {
		return nil, err
	}
	var keep bool
	switch c.ExistingAuthorization {
	case "", existingReplace:
	case existingKeep:
		keep = true
	default:
		return nil, fmt.Errorf("existingAuthorization %q is not one of replace, keep", c.ExistingAuthorization)
	}
	return &sessionCookies{name: c.CookieName, signer: sig, keyPrefix: c.RedisKeyPrefix,
		remove: c.RemoveSessionCookie, keepAuthorization: keep, verified: map[string]verifiedCookie{}}, nil
}

// verifyCookie checks a cookie value's signature and returns the Redis key of the session it carries, ""
// when the signature is not valid; values that verify are remembered. now is in Unix nanoseconds.
func verifyCookie(c *sessionCookies, value string, now int64) string {
	id, ts, ok := unsign(c.signer, value, time.Unix(0, now))
	if !ok {
		return ""
	}
	key := c.keyPrefix + id
	if len(value) > maxVerifiedSize {
		return key
	}
	e := verifiedCookie{key: key, expires: noExpiry}
	if c.signer.timestamped {
		// Valid while its age in whole seconds is at most maxAge, as itsdangerous counts.
		e.expires = (ts + c.signer.maxAge + 1) * int64(time.Second)
	}
	c.mu.Lock()
	if len(c.verified) >= maxVerified {
		c.verified = map[string]verifiedCookie{}
	}
	c.verified[strings.Clone(value)] = e
	c.mu.Unlock()
	return key
}

// Values of existingAuthorization.
const (
	existingReplace = "replace" // the session's JWT replaces whatever Authorization the client sent
	existingKeep    = "keep"    // a request with Authorization is judged by it; its cookie is not used
)

// removeCookie takes every cookie named name out of the request's Cookie headers, leaving every other
// byte of them as it was, and drops a Cookie header left empty.
func removeCookie(h http.Header, name string) {
	values := h["Cookie"]
	kept := values[:0]
	for _, v := range values {
		pairs := strings.Split(v, ";")
		out := pairs[:0]
		for _, p := range pairs {
			n, _, _ := strings.Cut(p, "=")
			if strings.TrimSpace(n) != name {
				out = append(out, p)
			}
		}
		if len(out) == len(pairs) {
			kept = append(kept, v)
			continue
		}
		if rest := strings.TrimLeft(strings.Join(out, ";"), " \t"); rest != "" {
			kept = append(kept, rest)
		}
	}
	if len(kept) == 0 {
		delete(h, "Cookie")
		return
	}
	h["Cookie"] = kept
}

// readSecrets returns the itsdangerous secrets, oldest first, from exactly one of the three keys.
func readSecrets(c *Config) ([]string, error) {
	set := 0
	var secrets []string
	if c.SecretKey != "" {
		set++
		secrets = []string{c.SecretKey}
	}
	if len(c.SecretKeys) > 0 {
		set++
		secrets = c.SecretKeys
	}
	if c.SecretKeyFile != "" {
		set++
		secret, err := readSecretFile(c.SecretKeyFile, "secretKeyFile")
		if err != nil {
			return nil, err
		}
		secrets = []string{secret}
	}
	switch set {
	case 0:
		return nil, errors.New("one of secretKey, secretKeys, secretKeyFile is required")
	case 1:
	default:
		return nil, errors.New("set only one of secretKey, secretKeys, secretKeyFile")
	}
	for i, s := range secrets {
		if s == "" {
			return nil, fmt.Errorf("secretKeys[%d] is empty", i)
		}
	}
	return secrets, nil
}
