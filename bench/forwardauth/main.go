// Command forwardauth is the setup users build today instead of sessionjwt: a compiled Go service behind
// Traefik's ForwardAuth that does the same cookie-to-JWT swap with go-redis. Traefik copies the
// Authorization header of its 200 answer onto the forwarded request (authResponseHeaders).
package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"flag"
	"log"
	"net/http"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8002", "listen address")
	redisAddr := flag.String("redis", "127.0.0.1:6379", "Redis address")
	secret := flag.String("secret", "", "itsdangerous secret")
	flag.Parse()

	// itsdangerous Signer(secret, digest_method=sha256): django-concat key derivation, default salt.
	d := sha256.Sum256([]byte("itsdangerous.Signer" + "signer" + *secret))
	key := d[:]
	rdb := redis.NewClient(&redis.Options{Addr: *redisAddr, PoolSize: 16, ReadTimeout: 500 * time.Millisecond})

	http.HandleFunc("/auth", func(rw http.ResponseWriter, req *http.Request) {
		c, err := req.Cookie("session_uuid")
		if err != nil {
			http.Error(rw, `{"error":"unauthenticated"}`, http.StatusUnauthorized)
			return
		}
		i := strings.LastIndexByte(c.Value, '.')
		if i < 0 {
			http.Error(rw, `{"error":"unauthenticated"}`, http.StatusUnauthorized)
			return
		}
		sig, err := base64.RawURLEncoding.DecodeString(c.Value[i+1:])
		mac := hmac.New(sha256.New, key)
		mac.Write([]byte(c.Value[:i]))
		if err != nil || !hmac.Equal(mac.Sum(nil), sig) {
			http.Error(rw, `{"error":"unauthenticated"}`, http.StatusUnauthorized)
			return
		}
		ctx, cancel := context.WithTimeout(req.Context(), 500*time.Millisecond)
		defer cancel()
		jwt, err := rdb.Get(ctx, c.Value[:i]).Result()
		if err == redis.Nil {
			http.Error(rw, `{"error":"unauthenticated"}`, http.StatusUnauthorized)
			return
		}
		if err != nil {
			http.Error(rw, `{"error":"session store unavailable"}`, http.StatusServiceUnavailable)
			return
		}
		rw.Header().Set("Authorization", "Bearer "+jwt)
		rw.WriteHeader(http.StatusOK)
	})
	log.Printf("forwardauth listening on %s", *addr)
	log.Panic(http.ListenAndServe(*addr, nil))
}
