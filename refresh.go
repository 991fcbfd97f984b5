package sessionjwt

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// Session refresh, as seed 000 does it with its bugs fixed: when a session's Redis key has less than
// refreshBelow to live, the auth service's refresh endpoint is called with the request's new
// Authorization header, and the Set-Cookie headers it answers go to the browser with the response.

// refresher holds the refresh settings of one middleware.
type refresher struct {
	url     string
	below   time.Duration
	timeout time.Duration
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
func maybeRefresh(m *SessionJWT, rw http.ResponseWriter, req *http.Request, s *session, now int64) {
	if s.redisEnd != 0 && s.redisEnd-now < int64(m.refresh.below) {
		refreshSession(m, rw, req, s)
	}
}

// refreshSession calls the refresh endpoint for s, waiting at most the refresh timeout, and adds the
// endpoint's Set-Cookie headers to rw's headers. Failures are logged; the request goes on regardless.
func refreshSession(m *SessionJWT, rw http.ResponseWriter, req *http.Request, s *session) {
	flight := m.refresh.url + "\x00" + m.poolKey + "\x00" + s.key
	if !startRefresh(flight, time.Now()) {
		return
	}
	defer endRefresh(flight)

	ctx, cancel := context.WithTimeout(req.Context(), m.refresh.timeout)
	defer cancel()
	call, err := http.NewRequestWithContext(ctx, http.MethodPost, m.refresh.url, nil)
	if err != nil {
		logf("middleware %s: session refresh: %v", m.name, err)
		return
	}
	call.Header.Set(m.header, s.authorization)
	res, err := refreshClient.Do(call)
	if err != nil {
		logf("middleware %s: session refresh failed: %v", m.name, urlErrorCause(err))
		return
	}
	defer res.Body.Close()
	io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10)) // lets the connection be reused
	if res.StatusCode < 200 || res.StatusCode > 299 {
		logf("middleware %s: session refresh answered %d", m.name, res.StatusCode)
		return
	}
	for _, c := range res.Header.Values("Set-Cookie") {
		rw.Header().Add("Set-Cookie", c)
	}
	// The key's TTL changed: the next request reads it again.
	if m.cache != nil {
		cacheDelete(m.cache, s.key)
	}
}

// urlErrorCause drops the method and URL an *url.Error repeats; the log line already says what failed.
func urlErrorCause(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err
	}
	return err
}
