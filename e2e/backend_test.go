package e2e

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// backendHandler is the service behind Traefik. It answers:
//   - .../ws: a websocket that echoes each message prefixed with the Authorization header of the upgrade;
//   - .../sse: a server-sent-events stream: one event, then a second only once the client asked for it via
//     the sse-continue channel, which deadlocks (and fails the test) if anything buffers the stream;
//   - anything else: the request's headers as JSON.
func backendHandler() http.Handler {
	upgrader := websocket.Upgrader{}
	return http.HandlerFunc(func(rw http.ResponseWriter, req *http.Request) {
		switch {
		case strings.HasSuffix(req.URL.Path, "/ws"):
			conn, err := upgrader.Upgrade(rw, req, nil)
			if err != nil {
				return
			}
			defer conn.Close()
			for {
				kind, msg, err := conn.ReadMessage()
				if err != nil {
					return
				}
				reply := fmt.Sprintf("%s|%s", req.Header.Get("Authorization"), msg)
				if err := conn.WriteMessage(kind, []byte(reply)); err != nil {
					return
				}
			}
		case strings.HasSuffix(req.URL.Path, "/sse"):
			flusher, ok := rw.(http.Flusher)
			if !ok {
				http.Error(rw, "no flusher", http.StatusInternalServerError)
				return
			}
			rw.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprintf(rw, "data: first %s\n\n", req.Header.Get("Authorization"))
			flusher.Flush()
			select {
			case <-sseContinue:
			case <-time.After(10 * time.Second):
				return
			case <-req.Context().Done():
				return
			}
			fmt.Fprint(rw, "data: second\n\n")
			flusher.Flush()
		default:
			rw.Header().Set("Content-Type", "application/json")
			json.NewEncoder(rw).Encode(req.Header)
		}
	})
}

var sseContinue = make(chan struct{}, 1)

// authHandler is the auth service's refresh endpoint: it counts calls, records the Authorization it got
// and answers two cookies.
func authHandler() http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, req *http.Request) {
		switch req.URL.Path {
		case "/.well-known/jwks.json":
			rw.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(rw, `{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"e2e","x":"%s"}]}`,
				base64.RawURLEncoding.EncodeToString(idpPublic))
			return
		case "/oidc/.well-known/openid-configuration", "/liar/.well-known/openid-configuration":
			// An OpenID Connect provider at <auth>/oidc; the one at /liar claims oidc's issuer.
			self := "http://" + req.Host
			rw.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(rw, `{"issuer":"%s/oidc","jwks_uri":"%s/oidc/jwks"}`, self, self)
			return
		case "/oidc/jwks":
			rw.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(rw, `{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"oidc","x":"%s"}]}`,
				base64.RawURLEncoding.EncodeToString(oidcPublic))
			return
		}
		if strings.HasPrefix(req.URL.Path, "/tinyauth") {
			tinyauth(rw, req)
			return
		}
		authMu.Lock()
		authCalls = append(authCalls, req.Method+" "+req.URL.Path+" "+req.Header.Get("Authorization"))
		authMu.Unlock()
		for _, c := range refreshCookies {
			rw.Header().Add("Set-Cookie", c)
		}
	})
}

var (
	authMu         sync.Mutex
	authCalls      []string
	refreshCookies = []string{"session_uuid=renewed; Path=/; HttpOnly; Expires=Wed, 21 Oct 2026 07:28:00 GMT", "csrf=x; Path=/"}
)

// The identity provider's signing key; its JWKS is served by authHandler.
var idpPublic, idpPrivate, _ = ed25519.GenerateKey(rand.Reader)

// The OpenID Connect provider's signing key, found by discovery.
var oidcPublic, oidcPrivate, _ = ed25519.GenerateKey(rand.Reader)

// idpToken signs claims as the identity provider would (EdDSA, kid e2e).
func idpToken(claims string) string { return edToken(idpPrivate, "e2e", claims) }

// oidcToken signs claims as the OpenID Connect provider would (EdDSA, kid oidc).
func oidcToken(claims string) string { return edToken(oidcPrivate, "oidc", claims) }

func edToken(key ed25519.PrivateKey, kid, claims string) string {
	enc := base64.RawURLEncoding
	input := enc.EncodeToString([]byte(`{"alg":"EdDSA","kid":"`+kid+`"}`)) + "." + enc.EncodeToString([]byte(claims))
	return input + "." + enc.EncodeToString(ed25519.Sign(key, []byte(input)))
}

// tinyauth answers authorize-by-token as the tinyauth server does, under /tinyauth/ (and fails as asked
// under /tinyauth-slow/ and /tinyauth-garbage/): the gateway's Basic credentials, a body of exactly
// permit, headers and context, the caller identified by its tinysess cookie among the headers.
func tinyauth(rw http.ResponseWriter, req *http.Request) {
	authMu.Lock()
	tinyauthCalls++
	authMu.Unlock()
	switch {
	case strings.HasPrefix(req.URL.Path, "/tinyauth-slow/"):
		time.Sleep(3 * time.Second)
	case strings.HasPrefix(req.URL.Path, "/tinyauth-garbage/"):
		rw.Header().Set("Content-Type", "text/html")
		rw.WriteHeader(http.StatusInternalServerError)
		fmt.Fprint(rw, "<html>Internal Server Error</html>")
		return
	}
	answer := func(status int, body string) {
		rw.Header().Set("Content-Type", "application/json")
		rw.WriteHeader(status)
		fmt.Fprint(rw, body)
	}
	user, pass, ok := req.BasicAuth()
	if req.URL.Path != "/tinyauth/api/v1/services/apples/authorize-by-token" || req.Method != http.MethodPost ||
		!ok || user != "gatekeeper" || pass != "keymaster" || req.Header.Get("Cookie") != "" {
		answer(http.StatusUnauthorized, `{"errors": {"authorization": "InvalidSignature"}}`)
		return
	}
	var body struct {
		Permit  map[string][]string `json:"permit"`
		Headers [][]string          `json:"headers"`
		Context map[string]string   `json:"context"`
	}
	var keys map[string]json.RawMessage
	raw, _ := io.ReadAll(req.Body)
	if json.Unmarshal(raw, &keys) != nil || len(keys) != 3 || json.Unmarshal(raw, &body) != nil ||
		len(body.Permit) != 1 || body.Context["SourceIp"] == "" || body.Context["RequestDateTime"] == "" {
		answer(http.StatusBadRequest, `{"errors": {"body": "malformed"}}`)
		return
	}
	caller := ""
	for _, h := range body.Headers {
		if len(h) == 2 && h[0] == "Cookie" {
			for _, c := range strings.Split(h[1], ";") {
				if name, value, _ := strings.Cut(strings.TrimSpace(c), "="); name == "tinysess" {
					caller = value
				}
			}
		}
	}
	for action, arns := range body.Permit {
		switch {
		case caller != "alice" && caller != "bob":
			answer(http.StatusOK, `{"Authorized": false, "ErrorCode": "NoSuchKey", "Permitted": {}, "NotPermitted": {}}`)
		case caller == "alice" && len(arns) == 1 && tinyauthPermits[action+" "+arns[0]]:
			answer(http.StatusOK, `{"Authorized": true, "Identity": "alice", "Permitted": {}, "NotPermitted": {}}`)
		default:
			answer(http.StatusOK, `{"Authorized": false, "ErrorCode": "NotPermitted", "Permitted": {}, "NotPermitted": {}}`)
		}
	}
}

// What alice may do; bob is known and may do nothing.
var tinyauthPermits = map[string]bool{
	"GetApple arn:tinyauth:apples:default::apples/fred": true,
	"AccessWebInterface arn:tinyauth:apples:default::":  true,
}

var tinyauthCalls int
