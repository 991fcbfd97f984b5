// Command auth is the demo's auth service, doing what a real one does for sessionjwt: a login form that
// creates a session (a JWT stored in Redis under a new UUID, the UUID signed as an itsdangerous cookie,
// HttpOnly and SameSite=Lax), a logout that deletes it, and the refresh endpoint the plugin calls.
// Standard library only, like the demo backend; its Redis client is the few RESP lines it needs.
package main

import (
	"bufio"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"html"
	"log"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// sessionTTL is how long a session lives in Redis; the refresh endpoint gives it this long again.
const sessionTTL = time.Hour

type service struct {
	redis     string // host:port
	cookieKey []byte // itsdangerous Signer key: django-concat derivation of the secret
	jwtKey    []byte // HS256 key of the demo's JWTs (the backend never checks them: the gateway did)
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8002", "listen address")
	redisAddr := flag.String("redis", "127.0.0.1:6380", "Redis address")
	secret := flag.String("secret", "demo-secret-change-me", "the itsdangerous secret, as in examples/dynamic.yml")
	flag.Parse()
	// itsdangerous Signer(secret, digest_method=hashlib.sha256): key = sha256(salt + "signer" + secret).
	derived := sha256.Sum256([]byte("itsdangerous.Signer" + "signer" + *secret))
	s := &service{redis: *redisAddr, cookieKey: derived[:], jwtKey: []byte("demo-jwt-key")}
	mux := http.NewServeMux()
	mux.HandleFunc("/login", s.login)
	mux.HandleFunc("/logout", s.logout)
	mux.HandleFunc("/api/auth/v1/refresh", s.refresh)
	log.Printf("demo auth service listening on %s", *addr)
	log.Panic(http.ListenAndServe(*addr, mux))
}

// login shows the form (GET) and signs the user in (POST): any name, no password, it is a demo.
func (s *service) login(rw http.ResponseWriter, req *http.Request) {
	next := safeNext(req.FormValue("next"))
	if req.Method != http.MethodPost {
		rw.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(rw, loginPage, html.EscapeString(next))
		return
	}
	user := strings.TrimSpace(req.PostFormValue("username"))
	if user == "" || len(user) > 64 {
		http.Error(rw, "a user name of 1 to 64 characters, please", http.StatusBadRequest)
		return
	}
	id := newUUID()
	scopes := "demo:read"
	if user == "admin" {
		scopes = "demo:read demo:admin"
	}
	claims, _ := json.Marshal(map[string]interface{}{"sub": user, "sid": id, "scopes": scopes,
		"iat": time.Now().Unix(), "exp": time.Now().Add(sessionTTL).Unix()})
	jwt := signJWT(s.jwtKey, claims)
	if _, err := s.command("SET", id, jwt, "EX", strconv.Itoa(int(sessionTTL.Seconds()))); err != nil {
		http.Error(rw, "the session store is unavailable", http.StatusServiceUnavailable)
		return
	}
	http.SetCookie(rw, &http.Cookie{Name: "session_uuid", Value: id + "." + s.signature(id), Path: "/",
		HttpOnly: true, SameSite: http.SameSiteLaxMode})
	http.Redirect(rw, req, next, http.StatusSeeOther)
}

// logout deletes the session from Redis (every Traefik drops it from its cache at once) and the cookie.
func (s *service) logout(rw http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost {
		http.Error(rw, "POST, please", http.StatusMethodNotAllowed)
		return
	}
	if c, err := req.Cookie("session_uuid"); err == nil {
		if id, sig, ok := strings.Cut(c.Value, "."); ok && hmac.Equal([]byte(sig), []byte(s.signature(id))) {
			s.command("DEL", id)
		}
	}
	http.SetCookie(rw, &http.Cookie{Name: "session_uuid", Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		SameSite: http.SameSiteLaxMode})
	http.Redirect(rw, req, "/login", http.StatusSeeOther)
}

// refresh is what sessionjwt calls (refreshURL) when a session's key is about to expire, with the
// session's JWT in Authorization: the JWT's sid names the key, which gets sessionTTL again.
func (s *service) refresh(rw http.ResponseWriter, req *http.Request) {
	claims, ok := verifyJWT(s.jwtKey, strings.TrimPrefix(req.Header.Get("Authorization"), "Bearer "))
	if req.Method != http.MethodPost || !ok {
		http.Error(rw, "a POST with the session's JWT, please", http.StatusUnauthorized)
		return
	}
	var c struct {
		SID string `json:"sid"`
	}
	if json.Unmarshal(claims, &c) != nil || c.SID == "" {
		http.Error(rw, "no sid", http.StatusBadRequest)
		return
	}
	if _, err := s.command("EXPIRE", c.SID, strconv.Itoa(int(sessionTTL.Seconds()))); err != nil {
		http.Error(rw, "the session store is unavailable", http.StatusServiceUnavailable)
		return
	}
	rw.WriteHeader(http.StatusNoContent)
}

// safeNext is where a login sends the browser back to: a same-origin path, never a URL a client chose.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		return "/app/"
	}
	return next
}

// signature is itsdangerous' signature of value: base64url, unpadded, of HMAC-SHA256.
func (s *service) signature(value string) string {
	mac := hmac.New(sha256.New, s.cookieKey)
	mac.Write([]byte(value))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

func signJWT(key, claims []byte) string {
	enc := base64.RawURLEncoding
	input := enc.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + enc.EncodeToString(claims)
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(input))
	return input + "." + enc.EncodeToString(mac.Sum(nil))
}

func verifyJWT(key []byte, jwt string) ([]byte, bool) {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return nil, false
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(parts[0] + "." + parts[1]))
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || !hmac.Equal(sig, mac.Sum(nil)) {
		return nil, false
	}
	claims, err := base64.RawURLEncoding.DecodeString(parts[1])
	return claims, err == nil
}

func newUUID() string {
	b := make([]byte, 16)
	rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// command sends one Redis command (an array of bulk strings) on a new connection and returns the first
// line of the reply; an error reply is an error.
func (s *service) command(args ...string) (string, error) {
	conn, err := net.DialTimeout("tcp", s.redis, time.Second)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := conn.Write([]byte(b.String())); err != nil {
		return "", err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return "", err
	}
	if strings.HasPrefix(line, "-") {
		return "", errors.New(strings.TrimSpace(line[1:]))
	}
	return strings.TrimSpace(line), nil
}

const loginPage = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in: sessionjwt demo</title>
<style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem}
input,button{font-size:1rem;padding:.4rem .6rem}label{display:block;margin:1rem 0 .3rem}</style></head>
<body><h1>Sign in</h1>
<p>The demo auth service: any name signs you in (<code>admin</code> also gets the <code>demo:admin</code> scope).
It stores a JWT in Redis under a new session id and gives your browser that id, signed with itsdangerous, in an
HttpOnly cookie.</p>
<form method="post" action="/login"><input type="hidden" name="next" value="%s">
<label for="username">User name</label><input id="username" name="username" value="" autofocus>
<button id="signin" type="submit">Sign in</button></form>
</body></html>
`
