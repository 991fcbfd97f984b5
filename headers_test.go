package sessionjwt

import (
	"net/http"
	"reflect"
	"sort"
	"strings"
	"testing"
)

func TestHeaderSpellings(t *testing.T) {
	tests := []struct {
		name string
		want []string // sorted
		err  string
	}{
		{"Authorization", []string{"Authorization"}, ""},
		{"x-jwt", []string{"X-Jwt", "X_jwt"}, ""},
		{"X-User-Id", []string{"X-User-Id", "X-User_id", "X_user-Id", "X_user_id"}, ""},
		{"X_User", []string{"X-User", "X_user"}, ""},
		{"X--Y", nil, "must not start or end with, or double"},
		{"-X", nil, "must not start or end with, or double"},
		{"A-B-C-D-E-F-G-H", nil, "more than 6"},
	}
	for _, tt := range tests {
		got, err := headerSpellings("claimHeaders sub", tt.name)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) || !strings.Contains(err.Error(), "claimHeaders sub") {
				t.Errorf("%s: err %v, want one naming the key and saying %q", tt.name, err, tt.err)
			}
			continue
		}
		sort.Strings(got)
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: %q, %v; want %q", tt.name, got, err, tt.want)
		}
	}
}

// No spelling of a header the gateway sets reaches the backend from the client: not the canonical one,
// and none that a server mapping "_" to "-" would read as it (CVE-2024-45614), under every policy, with
// a session and without.
func TestSpoofedSpellingsNeverReachTheBackend(t *testing.T) {
	id := randomID(t)
	storeSession(t, id, makeJWT(`{"sub":"user-7"}`))
	spoofs := []string{"X-User-Id", "X_User_Id", "x_user-id", "X-USER_ID", "X_Jwt", "x_jwt"}
	for _, policy := range []string{"pass", "strip", "reject"} {
		h, next := newTestMiddleware(t, func(c *Config) {
			c.Unauthenticated = policy
			c.HeaderName = "X-Jwt"
			c.ClaimHeaders = map[string]string{"sub": "X-User-Id"}
		})
		for _, session := range []string{id, ""} {
			req := requestTo(t, http.MethodGet, "/api")
			if session != "" {
				req.AddCookie(&http.Cookie{Name: "session_uuid", Value: signedCookie(t, h, session)})
			}
			for _, s := range spoofs {
				req.Header.Add(s, "mallory") // Add canonicalizes, as Go's server does
			}
			before, _ := next.seen()
			serve(h, req)
			after, got := next.seen()
			name := policy + "/without a session"
			if session != "" {
				name = policy + "/with a session"
			}
			if after == before {
				if policy != "reject" || session != "" {
					t.Errorf("%s: the backend was not called", name)
				}
				continue
			}
			for key, values := range got {
				switch cgiName(key) {
				case "x-user-id", "x-jwt":
					if key != "X-User-Id" && key != "X-Jwt" || contains(values, "mallory") {
						t.Errorf("%s: backend saw %s: %q", name, key, values)
					}
				}
			}
			if session != "" && (got.Get("X-User-Id") != "user-7" || got.Get("X-Jwt") == "") {
				t.Errorf("%s: backend saw X-User-Id %q, X-Jwt %q", name, got.Get("X-User-Id"), got.Get("X-Jwt"))
			}
		}
	}
}
