package sessionjwt

import (
	"strconv"
	"testing"
	"time"
)

func TestVerifiedCookiesRemembersOnlyValidValues(t *testing.T) {
	h, _ := newTestMiddleware(t, nil)
	m := h.(*SessionJWT)
	now := time.Now()
	good := signForTest(m.signer, "session-1", 0)
	for i := 0; i < 3; i++ {
		if key := sessionKey(m, good, now.UnixNano()); key != m.keyPrefix+"session-1" {
			t.Fatalf("call %d: key %q", i, key)
		}
	}
	for _, bad := range []string{good + "x", "session-1", good[:len(good)-1] + "A"} {
		if sessionKey(m, bad, now.UnixNano()) != "" {
			t.Fatalf("%q verified", bad)
		}
	}
	if len(m.verified.entries) != 1 {
		t.Fatalf("%d entries, want only the valid cookie", len(m.verified.entries))
	}
}

// A remembered timestamped cookie stops verifying when it would have expired.
func TestVerifiedCookiesExpireWithTheirTimestamp(t *testing.T) {
	h, _ := newTestMiddleware(t, func(c *Config) { c.MaxAge = "1h" })
	m := h.(*SessionJWT)
	signedAt := time.Now().Add(-30 * time.Minute)
	cookie := signForTest(m.signer, "session-2", signedAt.Unix())
	if sessionKey(m, cookie, time.Now().UnixNano()) == "" {
		t.Fatal("fresh cookie refused")
	}
	if sessionKey(m, cookie, signedAt.Add(time.Hour).UnixNano()) == "" {
		t.Fatal("refused at exactly maxAge")
	}
	if sessionKey(m, cookie, signedAt.Add(time.Hour+time.Second).UnixNano()) != "" {
		t.Fatal("a remembered cookie outlived maxAge")
	}
}

func TestVerifiedCookiesStayBounded(t *testing.T) {
	h, _ := newTestMiddleware(t, nil)
	m := h.(*SessionJWT)
	now := time.Now()
	for i := 0; i < maxVerified+10; i++ {
		if sessionKey(m, signForTest(m.signer, "s"+strconv.Itoa(i), 0), now.UnixNano()) == "" {
			t.Fatal("refused")
		}
	}
	if n := len(m.verified.entries); n > maxVerified {
		t.Fatalf("%d entries, bound %d", n, maxVerified)
	}
	long := signForTest(m.signer, string(make([]byte, maxVerifiedSize)), 0)
	before := len(m.verified.entries)
	if sessionKey(m, long, now.UnixNano()) == "" || len(m.verified.entries) != before {
		t.Fatal("an oversized cookie value was stored")
	}
}

func TestPrintableASCIIIsSpaceToTilde(t *testing.T) {
	want := ""
	for c := 0x20; c <= 0x7e; c++ {
		want += string(rune(c))
	}
	if printableASCII != want {
		t.Fatalf("printableASCII = %q", printableASCII)
	}
}
