package sessionjwt

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"sync"
	"time"
)

// jwtVerifier is the jwt block of one middleware, ready to use.
type jwtVerifier struct {
	algorithms   map[string]bool
	static       []jwtKey // inline JWKS and PEM keys
	hmacSecret   []byte
	remote       []*jwksCache // one per jwksURLs entry, shared at package level
	issuers      []string
	audiences    []string
	leeway       time.Duration
	verifyStored bool
	// trust identifies the configuration and key material this verifier trusts: middlewares that verify
	// stored JWTs share cached sessions only with middlewares that trust exactly the same.
	trust string

	refresh     time.Duration // refetch a JWKS this old, in the background
	minInterval time.Duration // never fetch one URL more often than this
	timeout     time.Duration // bound on one fetch, and on how long a request waits for one
}

// keysFor returns the keys a token with kid may be signed with. An unknown kid makes the JWKS URLs be
// fetched again (at most once per minInterval each) before giving up. However many fetches it waits for,
// a request waits at most v.timeout in all.
func keysFor(v *jwtVerifier, kid string, now time.Time) []jwtKey {
	deadline := now.Add(v.timeout)
	keys := matchingKeys(v, kid, now, deadline)
	if len(keys) > 0 || kid == "" || len(v.remote) == 0 {
		return keys
	}
	for _, c := range v.remote {
		refetch(c, v, now, deadline)
	}
	return matchingKeys(v, kid, now, deadline)
}

// hasKey reports whether any key at hand carries kid (or, for kid "", whether there is any key at all).
// It never fetches.
func hasKey(v *jwtVerifier, kid string, now time.Time) bool {
	return len(matchingKeys(v, kid, now, time.Time{})) > 0
}

// matchingKeys collects the keys for kid; remote ones are fetched when needed, waiting until deadline at
// most (a zero deadline: only the keys at hand).
func matchingKeys(v *jwtVerifier, kid string, now, deadline time.Time) []jwtKey {
	var out []jwtKey
	for _, k := range v.static {
		if kid == "" || k.kid == "" || k.kid == kid {
			out = append(out, k)
		}
	}
	for _, c := range v.remote {
		for _, k := range remoteKeys(c, v, now, deadline) {
			if kid == "" || k.kid == "" || k.kid == kid {
				out = append(out, k)
			}
		}
	}
	return out
}

// jwksCache holds the keys of one JWKS URL for every middleware in this Traefik, across reloads. It
// has no goroutine of its own: requests that find the keys stale start one bounded fetch, and the
// janitor refetches the keys of URLs in use every jwksRefresh (sweepJWKS).
type jwksCache struct {
	url string

	mu        sync.Mutex
	keys      []jwtKey
	fetched   time.Time     // last successful fetch
	attempted time.Time     // last fetch started
	inFlight  chan struct{} // closed when the fetch in flight ends; nil when none is
	used      time.Time     // last request that asked for the keys
	owner     *jwtVerifier  // the newest configuration using the URL: its intervals and timeout apply
}

// jwksKeptFor is how many jwksRefresh intervals the janitor keeps refreshing a URL no request asked for
// (a day at the default 1h), before it drops the keys from the package-level map.
const jwksKeptFor = 24

var (
	jwksMu     sync.Mutex
	jwksCaches = map[string]*jwksCache{}
)

func sharedJWKS(url string) *jwksCache {
	jwksMu.Lock()
	defer jwksMu.Unlock()
	c := jwksCaches[url]
	if c == nil {
		c = &jwksCache{url: url}
		jwksCaches[url] = c
	}
	return c
}

// adoptJWKS makes v the owner of its remote caches: the newest configuration's intervals apply.
func adoptJWKS(v *jwtVerifier) {
	startJanitor()
	now := time.Now()
	for _, c := range v.remote {
		c.mu.Lock()
		c.owner = v
		c.used = now
		c.mu.Unlock()
	}
}

// sweepJWKS refetches the keys of each URL in use once they are jwksRefresh old, and drops the URLs no
// request asked for in jwksKeptFor intervals. A URL never fetched is left to the first request that
// needs it: New never leads to a fetch.
func sweepJWKS(now time.Time) {
	jwksMu.Lock()
	list := make([]*jwksCache, 0, len(jwksCaches))
	for _, c := range jwksCaches {
		list = append(list, c)
	}
	jwksMu.Unlock()
	for _, c := range list {
		c.mu.Lock()
		owner, used, fetched := c.owner, c.used, c.fetched
		c.mu.Unlock()
		if owner == nil {
			continue
		}
		if now.Sub(used) >= jwksKeptFor*owner.refresh {
			jwksMu.Lock()
			if jwksCaches[c.url] == c {
				delete(jwksCaches, c.url)
			}
			jwksMu.Unlock()
			continue
		}
		if !fetched.IsZero() && now.Sub(fetched) >= owner.refresh {
			startFetch(c, owner, now)
		}
	}
}

// remoteKeys returns the cached keys of c. Never fetched: fetch now (waiting until deadline at most).
// Older than v.refresh: fetch in the background and answer with the keys at hand.
func remoteKeys(c *jwksCache, v *jwtVerifier, now, deadline time.Time) []jwtKey {
	c.mu.Lock()
	keys, fetched := c.keys, c.fetched
	c.used = now
	c.mu.Unlock()
	if deadline.IsZero() {
		return keys
	}
	if fetched.IsZero() {
		refetch(c, v, now, deadline)
		c.mu.Lock()
		keys = c.keys
		c.mu.Unlock()
		return keys
	}
	if now.Sub(fetched) >= v.refresh {
		startFetch(c, v, now) // a routine refresh: the request does not wait for it
	}
	return keys
}

// refetch fetches c unless it was tried within v.minInterval, and waits for the fetch (its own or one
// already in flight) until deadline at most. The wait is measured from the clock, not from now: a request
// that already waited for another URL has only the rest of its one deadline left.
func refetch(c *jwksCache, v *jwtVerifier, now, deadline time.Time) {
	done := startFetch(c, v, now)
	left := time.Until(deadline)
	if done == nil || left <= 0 {
		return
	}
	timer := time.NewTimer(left)
	defer timer.Stop()
	select {
	case <-done:
	case <-timer.C:
	}
}

// startFetch starts a fetch of c unless one is in flight (then it returns that one's channel) or the last
// one started within v.minInterval (then nil).
func startFetch(c *jwksCache, v *jwtVerifier, now time.Time) chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.inFlight != nil {
		return c.inFlight
	}
	if !c.attempted.IsZero() && now.Sub(c.attempted) < v.minInterval {
		return nil
	}
	c.attempted = now
	done := make(chan struct{})
	c.inFlight = done
	go fetchJWKS(c, v.timeout, done)
	return done
}

var jwksClient = &http.Client{}

const maxJWKSSize = 1 << 20

// fetchJWKS replaces c's keys with the URL's, keeping the old ones when the fetch fails.
func fetchJWKS(c *jwksCache, timeout time.Duration, done chan struct{}) {
	keys, err := getJWKS(c.url, timeout)
	c.mu.Lock()
	if err == nil {
		c.keys = keys
		c.fetched = time.Now()
	}
	c.inFlight = nil
	c.mu.Unlock()
	close(done)
	if err != nil {
		logf("jwt: fetching the JWKS at %s failed, keeping the keys at hand: %v", c.url, err)
	}
}

func getJWKS(url string, timeout time.Duration) ([]jwtKey, error) {
	client := *jwksClient
	client.Timeout = timeout
	res, err := client.Get(url)
	if err != nil {
		return nil, urlErrorCause(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %d", res.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(res.Body, maxJWKSSize+1))
	if err != nil {
		return nil, err
	}
	if len(body) > maxJWKSSize {
		return nil, errors.New("larger than 1 MiB")
	}
	return parseJWKS(body)
}

// parseJWKS reads a JSON Web Key Set. Keys this gateway cannot use (private, symmetric, other curves,
// for encryption) are skipped; a set with no usable key is an error.
func parseJWKS(body []byte) ([]jwtKey, error) {
	var set struct {
		Keys []map[string]interface{} `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, fmt.Errorf("not a JWKS: %v", err)
	}
	var keys []jwtKey
	for _, jwk := range set.Keys {
		if k, ok := parseJWK(jwk); ok {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return nil, errors.New("no usable public key in the JWKS")
	}
	return keys, nil
}

func parseJWK(jwk map[string]interface{}) (jwtKey, bool) {
	str := func(name string) string {
		s, _ := jwk[name].(string)
		return s
	}
	num := func(name string) *big.Int {
		b, err := b64url.DecodeString(str(name))
		if err != nil || len(b) == 0 {
			return nil
		}
		return new(big.Int).SetBytes(b)
	}
	k := jwtKey{kid: str("kid"), alg: str("alg")}
	if use := str("use"); use != "" && use != "sig" {
		return k, false
	}
	if str("d") != "" {
		return k, false // a private key has no business in a JWKS we fetch
	}
	switch str("kty") {
	case "RSA":
		n, e := num("n"), num("e")
		if n == nil || e == nil || !e.IsInt64() || e.Int64() < 3 || e.Int64() > 1<<31 || n.BitLen() < 2048 {
			return k, false
		}
		k.rsa = &rsa.PublicKey{N: n, E: int(e.Int64())}
	case "EC":
		var curve elliptic.Curve
		switch str("crv") {
		case "P-256":
			curve = elliptic.P256()
		case "P-384":
			curve = elliptic.P384()
		case "P-521":
			curve = elliptic.P521()
		default:
			return k, false
		}
		x, y := num("x"), num("y")
		if x == nil || y == nil || !curve.IsOnCurve(x, y) {
			return k, false
		}
		k.ec = &ecdsa.PublicKey{Curve: curve, X: x, Y: y}
	case "OKP":
		x, err := b64url.DecodeString(str("x"))
		if str("crv") != "Ed25519" || err != nil || len(x) != ed25519.PublicKeySize {
			return k, false
		}
		k.ed = ed25519.PublicKey(x)
	default:
		return k, false
	}
	return k, true
}

// parsePEMKeys reads public keys (PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE blocks).
func parsePEMKeys(data []byte, name string) ([]jwtKey, error) {
	var keys []jwtKey
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		var pub interface{}
		var err error
		switch block.Type {
		case "PUBLIC KEY":
			pub, err = x509.ParsePKIXPublicKey(block.Bytes)
		case "RSA PUBLIC KEY":
			pub, err = x509.ParsePKCS1PublicKey(block.Bytes)
		case "CERTIFICATE":
			var cert *x509.Certificate
			if cert, err = x509.ParseCertificate(block.Bytes); err == nil {
				pub = cert.PublicKey
			}
		default:
			return nil, fmt.Errorf("%s: a %s block is not a public key", name, block.Type)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %v", name, err)
		}
		var k jwtKey
		switch p := pub.(type) {
		case *rsa.PublicKey:
			k.rsa = p
		case *ecdsa.PublicKey:
			k.ec = p
		case ed25519.PublicKey:
			k.ed = p
		default:
			return nil, fmt.Errorf("%s: unsupported key type %T", name, pub)
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%s holds no PEM public key", name)
	}
	return keys, nil
}
