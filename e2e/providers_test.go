package e2e

import (
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// sj-providers inside a real Traefik: two identity providers (one by OpenID Connect discovery, one whose
// discovery document lies about its issuer), existingAuthorization keep, removeSessionCookie, and a refresh
// through the request's own host, allowed for the auth service's host only.

func TestProvidersThroughTraefik(t *testing.T) {
	exp := strconv.FormatInt(time.Now().Unix()+600, 10)
	oidcIssuer := h.auth.URL + "/oidc"
	accepted := map[string]string{
		"idp":  idpToken(`{"sub":"idp-user","iss":"https://idp.example","aud":"orders","exp":` + exp + `}`),
		"oidc": oidcToken(`{"sub":"oidc-user","iss":"` + oidcIssuer + `","exp":` + exp + `}`),
	}
	for name, token := range accepted {
		for i := 0; i < 2; i++ { // the second time from the verified-token memory
			res, body := send(t, http.MethodGet, "/providers/orders", "Authorization", "Bearer "+token)
			if res.StatusCode != http.StatusOK || backendSaw(t, body).Get("Authorization") != "Bearer "+token {
				t.Fatalf("%s token, request %d: status %d, body %q", name, i, res.StatusCode, body)
			}
		}
	}
	refused := []struct{ name, token, reason string }{
		{"idp's key, oidc's issuer", idpToken(`{"iss":"` + oidcIssuer + `","exp":` + exp + `}`), "unknown_key"},
		{"oidc's key, idp's issuer", oidcToken(`{"iss":"https://idp.example","aud":"orders","exp":` + exp + `}`), "unknown_key"},
		{"idp's audience missing", idpToken(`{"iss":"https://idp.example","aud":"billing","exp":` + exp + `}`), "invalid_audience"},
		{"a provider whose discovery names another issuer", oidcToken(`{"iss":"` + h.auth.URL + `/liar","exp":` + exp + `}`), "unknown_key"},
		{"no such provider", idpToken(`{"iss":"https://other.example","aud":"orders","exp":` + exp + `}`), "invalid_issuer"},
	}
	for _, r := range refused {
		res, body := send(t, http.MethodGet, "/providers/orders", "Authorization", "Bearer "+r.token)
		if res.StatusCode != http.StatusUnauthorized || !strings.Contains(res.Header.Get("WWW-Authenticate"), `error_description="`+r.reason+`"`) {
			t.Errorf("%s: status %d, WWW-Authenticate %q, body %q; want 401 %s", r.name, res.StatusCode, res.Header.Get("WWW-Authenticate"), body, r.reason)
		}
	}
}

func TestExistingAuthorizationKeepThroughTraefik(t *testing.T) {
	exp := strconv.FormatInt(time.Now().Unix()+600, 10)
	stored := makeJWT(`{"sub":"session-user"}`)
	cookie := "theme=dark; session_uuid=" + signCookie(t, secret, newSession(t, "", stored)) + "; csrf=abc"
	own := idpToken(`{"sub":"api-user","iss":"https://idp.example","aud":"orders","exp":` + exp + `}`)

	// The client's own valid token wins over the session: no swap.
	res, body := send(t, http.MethodGet, "/providers/orders", "Cookie", cookie, "Authorization", "Bearer "+own)
	if got := backendSaw(t, body); res.StatusCode != http.StatusOK || got.Get("Authorization") != "Bearer "+own || got.Get("Cookie") != "theme=dark; csrf=abc" {
		t.Fatalf("own token with a session: status %d, backend saw Authorization %q, Cookie %q", res.StatusCode, got.Get("Authorization"), got.Get("Cookie"))
	}
	// A refused token is refused, session or not (the trade-off the readme states).
	if res, body := send(t, http.MethodGet, "/providers/orders", "Cookie", cookie, "Authorization", "Bearer "+own+"x"); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("a tampered token with a session: status %d, body %q", res.StatusCode, body)
	}
	// Without Authorization the session is swapped in, and its cookie removed byte for byte.
	res, body = send(t, http.MethodGet, "/providers/orders", "Cookie", cookie)
	if got := backendSaw(t, body); res.StatusCode != http.StatusOK || got.Get("Authorization") != "Bearer "+stored || got.Get("Cookie") != "theme=dark; csrf=abc" {
		t.Fatalf("session only: status %d, backend saw Authorization %q, Cookie %q", res.StatusCode, got.Get("Authorization"), got.Get("Cookie"))
	}
}

func TestRefreshOnTheRequestHostThroughTraefik(t *testing.T) {
	token := makeJWT(`{"sub":"tenant-user"}`)
	authHost := strings.TrimPrefix(h.auth.URL, "http://")
	for _, host := range []string{"elsewhere.example", "127.0.0.1:" + strings.Split(authHost, ":")[1] + "0", authHost} {
		authMu.Lock()
		authCalls = nil
		authMu.Unlock()
		cookie := "session_uuid=" + signCookie(t, secret, newSession(t, "", token)) // EX 600: below refreshBelow
		res, body := send(t, http.MethodGet, "/providers/page", "Host", host, "Cookie", cookie)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("Host %s: status %d, body %q", host, res.StatusCode, body)
		}
		authMu.Lock()
		calls := append([]string(nil), authCalls...)
		authMu.Unlock()
		var want []string
		if host == authHost {
			want = []string{"POST /auth/v1/refresh Bearer " + token}
			if got := res.Header.Values("Set-Cookie"); !reflect.DeepEqual(got, refreshCookies) {
				t.Errorf("the browser got Set-Cookie %q, want the auth service's %q", got, refreshCookies)
			}
		}
		if !reflect.DeepEqual(calls, want) {
			t.Errorf("Host %s: the auth service got %q, want %q", host, calls, want)
		}
	}
}
