package sessionjwt

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Session refresh, as the auth middleware this gateway replaces (impact-stack's WSGI auth middleware)
// does it, with its bugs fixed: when a session's Redis key has less than refreshBelow to live, the auth
// service's refresh endpoint is called with the request's new Authorization header, and the Set-Cookie
// headers it answers go to the browser with the response.

// refresher holds the refresh settings of one middleware, and what a refresh touches: the header the
// session's JWT goes in, and the store whose cached copy it makes stale.
type refresher struct {
	url string // absolute; a path when hosts is set
	// hosts are refreshHosts: with a refreshURL that is a path, the request's host (lower case, with its
	// port if it has one) names the auth service, and only these hosts may. nil: url is absolute.
	hosts   map[string]bool
	below   time.Duration
	timeout time.Duration
	header  string        // canonical headerName
	store   *sessionStore // set once the store is built
	name    string        // the middleware's, for log lines
}

// refreshes remembers, across every middleware in this Traefik, until when no new refresh may start for
// a session: far ahead while one is in flight, refreshCooldown after one ended. Concurrent requests for
// that session go on without starting another, and an auth service that fails, or answers without
// extending the key, is asked at most once per cooldown rather than on every request.
var (
	refreshMu sync.Mutex
	refreshes = map[string]time.Time{}
)

const (
	refreshCooldown   = 30 * time.Second
	maxRefreshEntries = 10000 // past this, ended cooldowns are swept out
)

// startRefresh reports whether a refresh of flight may start now, and if so marks it in flight.
func startRefresh(flight string, now time.Time) bool {
	refreshMu.Lock()
	defer refreshMu.Unlock()
	if now.Before(refreshes[flight]) {
		return false
	}
	if len(refreshes) >= maxRefreshEntries {
		for k, until := range refreshes {
			if !now.Before(until) {
				delete(refreshes, k)
			}
		}
	}
	refreshes[flight] = now.Add(24 * time.Hour) // ended by endRefresh, however the refresh ends
	return true
}

func endRefresh(flight string) {
	refreshMu.Lock()
	refreshes[flight] = time.Now().Add(refreshCooldown)
	refreshMu.Unlock()
}

// refreshClient does not follow redirects (a refresh endpoint answers, it does not send us elsewhere).
var refreshClient = &http.Client{
	CheckRedirect: func(req *http.Request, via []*http.Request) error { return http.ErrUseLastResponse },
}

// maybeRefresh refreshes the session when its Redis key is about to expire. A key without expiry (zero
// redisEnd) is never refreshed.
func maybeRefresh(r *refresher, rw http.ResponseWriter, req *http.Request, s *session, now int64) {
	if s.redisEnd != 0 && s.redisEnd-now < int64(r.below) {
		refreshSession(r, rw, req, s)
	}
}

// refreshSession calls the refresh endpoint for s, waiting at most the refresh timeout, and adds the
// endpoint's Set-Cookie headers to rw's headers. Failures are logged; the request goes on regardless.
func refreshSession(r *refresher, rw http.ResponseWriter, req *http.Request, s *session) {
	endpoint := r.url
	if r.hosts != nil {
		// The client chose the Host: a JWT goes to it only when it is one of refreshHosts.
		host := strings.ToLower(req.Host)
		if !r.hosts[host] {
			return
		}
		scheme := "http://"
		if req.TLS != nil {
			scheme = "https://"
		}
		endpoint = scheme + host + r.url
	}
	flight := endpoint + "\x00" + r.store.poolKey + "\x00" + s.key
	if !startRefresh(flight, time.Now()) {
		return
	}
	defer endRefresh(flight)

	ctx, cancel := context.WithTimeout(req.Context(), r.timeout)
	defer cancel()
	call, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, nil)
	if err != nil {
		logf("middleware %s: session refresh: %v", r.name, err)
		return
	}
	call.Header.Set(r.header, s.authorization)
	res, err := refreshClient.Do(call)
	if err != nil {
		logf("middleware %s: session refresh failed: %v", r.name, urlErrorCause(err))
		return
	}
	defer res.Body.Close()
	io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10)) // lets the connection be reused
	if res.StatusCode < 200 || res.StatusCode > 299 {
		logf("middleware %s: session refresh answered %d", r.name, res.StatusCode)
		return
	}
	for _, c := range res.Header.Values("Set-Cookie") {
		rw.Header().Add("Set-Cookie", c)
	}
	// The key's TTL changed: the next request reads it again.
	if r.store.cache != nil {
		cacheDelete(r.store.cache, s.key)
	}
}

// newRefresher validates the session refresh keys; nil without a refreshURL.
func newRefresher(c *Config, header, name string) (*refresher, error) {
	if c.RefreshURL == "" {
		if len(c.RefreshHosts) > 0 {
			return nil, errors.New("refreshHosts needs a refreshURL that is a path (e.g. \"/api/auth/v1/refresh\")")
		}
		return nil, nil
	}
	hosts, err := refreshHosts(c)
	if err != nil {
		return nil, err
	}
	if hosts == nil && !isServiceURL(c.RefreshURL) {
		// The value is not repeated: it might hold credentials.
		return nil, errors.New("refreshURL is not an absolute http(s) URL without credentials " +
			"(e.g. \"http://auth:8000/api/auth/v1/refresh\"), nor a path with refreshHosts")
	}
	below, err := positiveDuration("refreshBelow", c.RefreshBelow, "4h")
	if err != nil {
		return nil, err
	}
	timeout, err := positiveDuration("refreshTimeout", c.RefreshTimeout, "1s")
	if err != nil {
		return nil, err
	}
	return &refresher{url: c.RefreshURL, hosts: hosts, below: below, timeout: timeout, header: header, name: name}, nil
}

// refreshHosts validates refreshHosts against refreshURL: a path (with its query, if any) needs the hosts
// it may be called on, an absolute URL takes none. nil: refreshURL is absolute.
func refreshHosts(c *Config) (map[string]bool, error) {
	if !strings.HasPrefix(c.RefreshURL, "/") || strings.HasPrefix(c.RefreshURL, "//") {
		if len(c.RefreshHosts) > 0 {
			return nil, errors.New("refreshHosts needs a refreshURL that is a path (e.g. \"/api/auth/v1/refresh\")")
		}
		return nil, nil
	}
	if u, err := url.Parse(c.RefreshURL); err != nil || u.Host != "" || u.Fragment != "" || !headerSafe(c.RefreshURL) {
		return nil, fmt.Errorf("refreshURL %q is not a path", c.RefreshURL)
	}
	if len(c.RefreshHosts) == 0 {
		// A path alone would send the session's JWT to whatever host a client names.
		return nil, errors.New("refreshURL is a path: list the hosts it may be called on in refreshHosts")
	}
	hosts := map[string]bool{}
	for i, h := range c.RefreshHosts {
		u, err := url.Parse("http://" + h)
		if err != nil || h == "" || u.Host != h || u.User != nil || strings.ContainsAny(h, "/?#@") {
			return nil, fmt.Errorf("refreshHosts[%d] %q is not a host or host:port", i, h)
		}
		hosts[strings.ToLower(h)] = true
	}
	return hosts, nil
}
