package sessionjwt

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// redisOptions is everything needed to reach one Redis endpoint, parsed once in New.
type redisOptions struct {
	network     string // "tcp" or "unix"
	address     string // host:port or socket path
	username    string
	password    string
	db          int
	timeout     time.Duration // per lookup; not a property of the pool, so not in poolKey
	poolSize    int
	idleTimeout time.Duration // an idle connection is closed after this

	tlsConfig *tls.Config // nil for redis:// and unix://
	caDigest  string      // identifies the CA bundle in the pool key
}

// parseRedisURL reads redis://[user[:password]@]host[:port][/db], rediss://... (TLS) and
// unix://[user[:password]@]/path/to.sock[?db=N]. Errors never echo the URL: it may hold a password.
func parseRedisURL(raw string) (redisOptions, error) {
	var o redisOptions
	u, err := url.Parse(raw)
	if err != nil {
		return o, errors.New("redisURL is not a valid URL")
	}
	if u.User != nil {
		o.username = u.User.Username()
		o.password, _ = u.User.Password()
	}
	switch u.Scheme {
	case "redis", "rediss":
		if u.Hostname() == "" {
			return o, errors.New("redisURL has no host")
		}
		port := u.Port()
		if port == "" {
			port = "6379"
		}
		o.network = "tcp"
		o.address = net.JoinHostPort(u.Hostname(), port)
		if db := strings.TrimPrefix(u.Path, "/"); db != "" {
			if o.db, err = parseDB(db); err != nil {
				return o, err
			}
		}
		if len(u.Query()) > 0 {
			return o, errors.New("redisURL takes no query parameters for redis:// and rediss://")
		}
		if u.Scheme == "rediss" {
			o.tlsConfig = &tls.Config{ServerName: u.Hostname(), MinVersion: tls.VersionTLS12}
		}
	case "unix":
		if u.Path == "" || u.Host != "" {
			return o, errors.New("redisURL for a unix socket must look like unix:///path/to/redis.sock?db=0")
		}
		o.network = "unix"
		o.address = u.Path
		q := u.Query()
		for name := range q {
			if name != "db" {
				return o, fmt.Errorf("redisURL query parameter %q is not supported (only db)", name)
			}
		}
		if db := q.Get("db"); db != "" {
			if o.db, err = parseDB(db); err != nil {
				return o, err
			}
		}
	default:
		return o, fmt.Errorf("redisURL scheme %q is not one of redis, rediss, unix", u.Scheme)
	}
	return o, nil
}

func parseDB(s string) (int, error) {
	db, err := strconv.Atoi(s)
	if err != nil || db < 0 {
		return 0, fmt.Errorf("redisURL database %q is not a non-negative number", s)
	}
	return db, nil
}

// setCA makes TLS connections trust only the certificates in pem instead of the system roots.
func (o *redisOptions) setCA(pem []byte) error {
	if o.tlsConfig == nil {
		return errors.New("redisCAFile is set but redisURL is not rediss://")
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		return errors.New("redisCAFile holds no PEM certificate")
	}
	o.tlsConfig.RootCAs = roots
	sum := sha256.Sum256(pem)
	o.caDigest = hex.EncodeToString(sum[:])
	return nil
}

// poolKey identifies the settings a connection and a pool depend on; middlewares whose keys match share a
// pool. redisTimeout is not among them: each lookup brings its own deadline.
func (o redisOptions) poolKey() string {
	tlsName := ""
	if o.tlsConfig != nil {
		tlsName = o.tlsConfig.ServerName
	}
	return strings.Join([]string{
		o.network, o.address, o.username, o.password, strconv.Itoa(o.db),
		strconv.Itoa(o.poolSize), o.idleTimeout.String(), tlsName, o.caDigest,
	}, "\x00")
}

// label names the endpoint in log lines, without credentials.
func (o redisOptions) label() string {
	scheme := "redis"
	if o.network == "unix" {
		scheme = "unix"
	} else if o.tlsConfig != nil {
		scheme = "rediss"
	}
	return scheme + "://" + o.address + "/" + strconv.Itoa(o.db)
}

func redisSettings(c *Config) (redisOptions, error) {
	o, err := parseRedisURL(c.RedisURL)
	if err != nil {
		return o, err
	}
	if c.RedisPasswordFile != "" {
		if o.password, err = readSecretFile(c.RedisPasswordFile, "redisPasswordFile"); err != nil {
			return o, err
		}
	}
	if c.RedisCAFile != "" {
		pem, err := os.ReadFile(c.RedisCAFile)
		if err != nil {
			return o, fmt.Errorf("redisCAFile: %v", err)
		}
		if err := o.setCA(pem); err != nil {
			return o, err
		}
	}
	if o.timeout, err = positiveDuration("redisTimeout", c.RedisTimeout, "500ms"); err != nil {
		return o, err
	}
	if c.RedisPoolSize < 1 {
		return o, fmt.Errorf("redisPoolSize %d must be at least 1", c.RedisPoolSize)
	}
	o.poolSize = c.RedisPoolSize
	if o.idleTimeout, err = positiveDuration("redisIdleTimeout", c.RedisIdleTimeout, "1m"); err != nil {
		return o, err
	}
	return o, nil
}
