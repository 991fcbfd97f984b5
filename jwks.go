package sessionjwt

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

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
