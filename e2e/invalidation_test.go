package e2e

import (
	"fmt"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The tracked router (sj-tracked) caches sessions with invalidation on (the default cacheInvalidation):
// a session deleted from Redis by another client is refused at once, not after cacheTTL.

// revocationBound is the correctness bound of a revocation, not a speed target: the figures are
// reported, and BENCHMARKS.md holds them.
const revocationBound = 2 * time.Second

var quickClient = &http.Client{Timeout: 2 * time.Second}

func statusAt(t *testing.T, web, cookie string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, web+"/tracked/x", nil)
	req.Header.Set("Cookie", cookie)
	res, err := quickClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

// getCalls is how many GETs Redis has run.
func getCalls(t *testing.T) int {
	t.Helper()
	info, err := h.redisDo("INFO", "commandstats")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(info, "\n") {
		if strings.HasPrefix(line, "cmdstat_get:calls=") {
			n, _ := strconv.Atoi(strings.TrimPrefix(strings.SplitN(line, ",", 2)[0], "cmdstat_get:calls="))
			return n
		}
	}
	return 0
}

// revoke stores the session id, lets every gateway in webs serve and cache it, deletes it from Redis
// and returns, for each gateway, the time from the DEL's reply to its first refused request.
func revoke(t *testing.T, webs []string, id, cookie string) []time.Duration {
	t.Helper()
	if _, err := h.redisDo("SET", id, makeJWT(`{"sub":"revoked"}`), "EX", "600"); err != nil {
		t.Fatal(err)
	}
	for _, web := range webs {
		// The SET's own invalidation may still be on its way: wait until the session is served.
		deadline := time.Now().Add(revocationBound)
		for statusAt(t, web, cookie) != http.StatusOK {
			if time.Now().After(deadline) {
				t.Fatalf("%s: the session is not served", web)
			}
		}
		statusAt(t, web, cookie) // from the cache
	}
	if _, err := h.redisDo("DEL", id); err != nil {
		t.Fatal(err)
	}
	deleted := time.Now()
	delays := make([]time.Duration, len(webs))
	for i, web := range webs {
		for statusAt(t, web, cookie) != http.StatusUnauthorized {
			if time.Since(deleted) > revocationBound {
				t.Fatalf("%s: a deleted session was still served after %v", web, revocationBound)
			}
		}
		delays[i] = time.Since(deleted)
	}
	return delays
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	return sorted[int(p*float64(len(sorted)-1)+0.5)]
}

// report logs the delays and appends them to $SESSIONJWT_REVOCATION_REPORT when set (make bench).
func report(t *testing.T, what string, delays []time.Duration) {
	sort.Slice(delays, func(i, j int) bool { return delays[i] < delays[j] })
	line := fmt.Sprintf("%s: %d trials, revocation delay p50 %.2f ms, p99 %.2f ms, max %.2f ms", what, len(delays),
		ms(percentile(delays, 0.5)), ms(percentile(delays, 0.99)), ms(delays[len(delays)-1]))
	t.Log(line)
	if path := os.Getenv("SESSIONJWT_REVOCATION_REPORT"); path != "" {
		f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err == nil {
			fmt.Fprintln(f, line)
			f.Close()
		}
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func TestRevocationThroughTraefik(t *testing.T) {
	needHarness(t)
	id := newSession(t, "", makeJWT(`{"sub":"revoked"}`))
	cookie := "session_uuid=" + signCookie(t, secret, id)
	// Cached: repeated requests make no GET.
	revoke(t, []string{h.web}, id, cookie)
	if _, err := h.redisDo("SET", id, makeJWT(`{"sub":"again"}`)); err != nil {
		t.Fatal(err)
	}
	waitServed(t, h.web, cookie)
	// After an earlier test stopped Redis, the invalidation channel may still be coming back: until
	// then every request reads Redis.
	deadline := time.Now().Add(5 * time.Second)
	for {
		before := getCalls(t)
		statusAt(t, h.web, cookie)
		if getCalls(t) == before || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	before := getCalls(t)
	for i := 0; i < 20; i++ {
		if got := statusAt(t, h.web, cookie); got != http.StatusOK {
			t.Fatalf("status %d", got)
		}
	}
	if after := getCalls(t); after != before {
		t.Errorf("20 requests for a cached session made %d GETs, want 0", after-before)
	}
	var delays []time.Duration
	for i := 0; i < 200; i++ {
		delays = append(delays, revoke(t, []string{h.web}, id, cookie)...)
	}
	report(t, "one Traefik", delays)
}

func waitServed(t *testing.T, web, cookie string) {
	t.Helper()
	deadline := time.Now().Add(revocationBound)
	for statusAt(t, web, cookie) != http.StatusOK {
		if time.Now().After(deadline) {
			t.Fatalf("%s: the session is not served", web)
		}
	}
}

// A logout (the session's key deleted) reaches every Traefik that cached the session: two processes,
// one Redis.
func TestLogoutReachesTwoTraefiks(t *testing.T) {
	needHarness(t)
	second, err := h.startTraefik("traefik-2")
	if second != nil && second.exited != nil {
		defer second.stop()
	}
	if err != nil {
		t.Fatal(err)
	}
	id := newSession(t, "", makeJWT(`{"sub":"revoked"}`))
	cookie := "session_uuid=" + signCookie(t, secret, id)
	var delays []time.Duration
	for i := 0; i < 50; i++ {
		delays = append(delays, revoke(t, []string{h.web, second.web}, id, cookie)...)
	}
	report(t, "two Traefiks, the later of the two", laterOfPairs(delays))
}

// laterOfPairs keeps, of each trial's two delays, the later: when the logout had reached both.
func laterOfPairs(delays []time.Duration) []time.Duration {
	var out []time.Duration
	for i := 0; i+1 < len(delays); i += 2 {
		d := delays[i]
		if delays[i+1] > d {
			d = delays[i+1]
		}
		out = append(out, d)
	}
	return out
}
