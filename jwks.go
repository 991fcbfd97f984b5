package sessionjwt

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// jwksCache holds the keys of one JWKS URL for every middleware in this Traefik, across reloads. It
// has no goroutine of its own: requests that find the keys stale start one bounded fetch, and the
// janitor refetches the keys of URLs in use every jwksRefresh (sweepJWKS).
//
// With an issuer, url is the issuer's OpenID Connect discovery document: each fetch reads it first and
// takes the keys from its jwks_uri, so a provider that moves its keys is followed.
type jwksCache struct {
	key    string // in jwksCaches
	url    string
	issuer string // "": url is the JWKS itself
	body   string // the JWKS last fetched, to tell when the keys changed

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

// keysEpoch counts the changes of any fetched key set in this Traefik: what was verified with the keys at
// one epoch is remembered for that epoch only (tokencache.go). Read and written with sync/atomic.
var keysEpoch int64

// sharedJWKS returns the cache of a JWKS at address (issuer ""), or of the keys an issuer's discovery
// document at address names.
func sharedJWKS(address, issuer string) *jwksCache {
	key := address
	if issuer != "" {
		key = "discovery " + issuer
	}
	jwksMu.Lock()
	defer jwksMu.Unlock()
	c := jwksCaches[key]
	if c == nil {
		c = &jwksCache{key: key, url: address, issuer: issuer}
		jwksCaches[key] = c
	}
	return c
}

// discoveryURL is where OpenID Connect Discovery 1.0 (section 4) puts an issuer's configuration.
func discoveryURL(issuer string) string {
	return strings.TrimSuffix(issuer, "/") + "/.well-known/openid-configuration"
}

// isDiscoverableIssuer reports an issuer whose configuration can be fetched: an http(s) URL without
// credentials, query or fragment, as OpenID Connect requires of an issuer identifier (plain http only
// for testing, as with jwksURLs).
func isDiscoverableIssuer(issuer string) bool {
	u, err := url.Parse(issuer)
	return err == nil && isServiceURL(issuer) && u.RawQuery == "" && u.Fragment == "" && !strings.Contains(issuer, "#")
}

// adoptJWKS makes v the owner of its remote caches: the newest configuration's intervals apply.
func adoptJWKS(v *jwtVerifier) {
	startJanitor()
	now := time.Now()
	for _, p := range v.providers {
		for _, c := range p.remote {
			c.mu.Lock()
			c.owner = v
			c.used = now
			c.mu.Unlock()
		}
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
			if jwksCaches[c.key] == c {
				delete(jwksCaches, c.key)
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

// fetchJWKS replaces c's keys with the URL's, keeping the old ones when the fetch fails. Keys that
// change start a new keysEpoch.
func fetchJWKS(c *jwksCache, timeout time.Duration, done chan struct{}) {
	deadline := time.Now().Add(timeout)
	jwksURL := c.url
	var err error
	if c.issuer != "" {
		jwksURL, err = discoverJWKS(c.url, c.issuer, deadline)
	}
	var keys []jwtKey
	var body []byte
	if err == nil {
		if body, err = getJSON(jwksURL, deadline); err == nil {
			keys, err = parseJWKS(body)
		}
	}
	c.mu.Lock()
	if err == nil {
		if string(body) != c.body {
			c.body = string(body)
			atomic.AddInt64(&keysEpoch, 1)
		}
		c.keys = keys
		c.fetched = time.Now()
	}
	c.inFlight = nil
	c.mu.Unlock()
	if err != nil { // before waking the waiting requests, so that the line precedes their answers
		logf("jwt: fetching the JWKS at %s failed, keeping the keys at hand: %v", c.url, err)
	}
	close(done)
}

// discoverJWKS reads an issuer's discovery document at address and returns its jwks_uri. The document must
// name exactly the configured issuer (OpenID Connect Discovery 1.0, section 4.3): otherwise another
// provider's keys could pass for this one's.
func discoverJWKS(address, issuer string, deadline time.Time) (string, error) {
	body, err := getJSON(address, deadline)
	if err != nil {
		return "", err
	}
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return "", fmt.Errorf("not a discovery document: %v", err)
	}
	if doc.Issuer != issuer {
		return "", fmt.Errorf("the discovery document names issuer %q, not %q", doc.Issuer, issuer)
	}
	if err := checkJWKSURI(issuer, doc.JWKSURI); err != nil {
		return "", err
	}
	return doc.JWKSURI, nil
}

// checkJWKSURI refuses a discovery document's jwks_uri that is not an absolute URL without credentials,
// or not https when the issuer is.
func checkJWKSURI(issuer, jwksURI string) error {
	if !isServiceURL(jwksURI) || (strings.HasPrefix(issuer, "https:") && !strings.HasPrefix(jwksURI, "https:")) {
		return errors.New("the discovery document's jwks_uri is not an absolute URL without credentials (https for an https issuer)")
	}
	return nil
}

// getJSON fetches address by deadline, reading at most maxJWKSSize.
func getJSON(address string, deadline time.Time) ([]byte, error) {
	client := *jwksClient
	client.Timeout = time.Until(deadline)
	if client.Timeout <= 0 {
		return nil, errors.New("timed out")
	}
	res, err := client.Get(address)
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
	return body, nil
}
