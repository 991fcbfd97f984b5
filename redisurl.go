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

	// wantMaster: a new connection must find ROLE master, or it fails (a Sentinel master, which may have
	// been demoted since the sentinels named it).
	wantMaster bool
}

// defaultRedisURL is what an empty redisURL means for a single Redis.
const defaultRedisURL = "redis://127.0.0.1:6379/0"

// redisTopology is how a store reaches Redis: one endpoint (opts), or the data nodes' settings (opts
// without an address) with either the sentinels that name the master or the seeds of a cluster.
type redisTopology struct {
	opts         redisOptions
	sentinel     *sentinelSettings // nil unless redisSentinelAddresses is set
	clusterSeeds []string          // nil unless redisClusterAddresses is set
}

// sentinelSettings is what reaching the sentinels of a Sentinel set takes: their addresses, the
// master's name, and their own credentials (which may differ from the data nodes').
type sentinelSettings struct {
	addresses []string
	master    string
	username  string
	password  string
}

// parseRedisURL reads redis://[user[:password]@]host[:port][/db], rediss://... (TLS) and
// unix://[user[:password]@]/path/to.sock[?db=N]. Errors never echo the URL: it may hold a password.
// With Sentinel or Cluster (nodes), the URL names no host: it gives the scheme, the data nodes'
// credentials and the database, the nodes come from the sentinels or the cluster.
func parseRedisURL(raw string, nodes string) (redisOptions, error) {
	var o redisOptions
	if raw == "" {
		raw = defaultRedisURL
		if nodes != "" {
			raw = "redis://"
		}
	}
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
		if nodes != "" {
			return o, nodesURL(&o, u, nodes)
		}
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
		if nodes != "" {
			return o, fmt.Errorf("redisURL must be redis:// or rediss:// with %s", nodes)
		}
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

// nodesURL reads a redis:// or rediss:// URL without a host, for the data nodes of a Sentinel set or a
// cluster (named by the key nodes). Their addresses come later, from the sentinels or the cluster, and so
// does each TLS server name (the host of the address).
func nodesURL(o *redisOptions, u *url.URL, nodes string) error {
	if u.Host != "" {
		return fmt.Errorf("redisURL names a host, but with %s the nodes come from there: "+
			"give redisURL without one (redis://[user:password@]/db or rediss://...) or leave it out", nodes)
	}
	o.network = "tcp"
	if db := strings.TrimPrefix(u.Path, "/"); db != "" {
		var err error
		if o.db, err = parseDB(db); err != nil {
			return err
		}
	}
	if len(u.Query()) > 0 {
		return errors.New("redisURL takes no query parameters for redis:// and rediss://")
	}
	if u.Scheme == "rediss" {
		o.tlsConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	return nil
}

// at returns o for the node at address (host:port): TLS then checks the certificate against its host.
func (o redisOptions) at(address string) redisOptions {
	o.address = address
	if o.tlsConfig != nil {
		o.tlsConfig = o.tlsConfig.Clone()
		o.tlsConfig.ServerName, _, _ = net.SplitHostPort(address)
	}
	return o
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
		strconv.Itoa(o.poolSize), o.idleTimeout.String(), tlsName, o.caDigest, strconv.FormatBool(o.wantMaster),
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

// redisSettings validates the keys that say how to reach Redis: one endpoint (redisURL), a Sentinel set
// (redisSentinel*) or a cluster (redisClusterAddresses), and the settings of every connection.
func redisSettings(c *Config) (redisTopology, error) {
	var topo redisTopology
	var err error
	nodes := ""
	if len(c.RedisSentinelAddresses) > 0 {
		nodes = "redisSentinelAddresses"
		if topo.sentinel, err = sentinelSettingsOf(c); err != nil {
			return topo, err
		}
	} else if c.RedisSentinelMasterName != "" || c.RedisSentinelUsername != "" || c.RedisSentinelPasswordFile != "" {
		return topo, errors.New("redisSentinelMasterName, redisSentinelUsername and redisSentinelPasswordFile " +
			"need redisSentinelAddresses: the sentinels to ask")
	}
	if len(c.RedisClusterAddresses) > 0 {
		if nodes != "" {
			return topo, errors.New("redisSentinelAddresses and redisClusterAddresses exclude each other: " +
				"a Sentinel set or a cluster, not both")
		}
		nodes = "redisClusterAddresses"
		if topo.clusterSeeds, err = addressList("redisClusterAddresses", c.RedisClusterAddresses); err != nil {
			return topo, err
		}
	}
	if topo.opts, err = connectionSettings(c, nodes); err != nil {
		return topo, err
	}
	if topo.clusterSeeds != nil && topo.opts.db != 0 {
		return topo, errors.New("redisURL names database " + strconv.Itoa(topo.opts.db) +
			", but a Redis Cluster has only database 0")
	}
	if topo.sentinel != nil {
		topo.opts.wantMaster = true
	}
	return topo, nil
}

func sentinelSettingsOf(c *Config) (*sentinelSettings, error) {
	addresses, err := addressList("redisSentinelAddresses", c.RedisSentinelAddresses)
	if err != nil {
		return nil, err
	}
	if c.RedisSentinelMasterName == "" {
		return nil, errors.New("redisSentinelMasterName is required with redisSentinelAddresses: " +
			"the name the sentinels monitor the master under (sentinel monitor <name> ...)")
	}
	if !headerSafe(c.RedisSentinelMasterName) || strings.ContainsAny(c.RedisSentinelMasterName, " \t") {
		return nil, errors.New("redisSentinelMasterName must be one word of printable characters")
	}
	s := &sentinelSettings{addresses: addresses, master: c.RedisSentinelMasterName, username: c.RedisSentinelUsername}
	if c.RedisSentinelPasswordFile != "" {
		if s.password, err = readSecretFile(c.RedisSentinelPasswordFile, "redisSentinelPasswordFile"); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// addressList checks that every entry of the list key is a host:port.
func addressList(key string, list []string) ([]string, error) {
	out := make([]string, 0, len(list))
	for i, a := range list {
		host, port, err := net.SplitHostPort(a)
		if err != nil || host == "" {
			return nil, fmt.Errorf("%s[%d] %q is not host:port", key, i, a)
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("%s[%d] %q has no port between 1 and 65535", key, i, a)
		}
		if !contains(out, a) {
			out = append(out, a)
		}
	}
	return out, nil
}

// connectionSettings reads redisURL (of the data nodes, when nodes names their source) and the keys of
// every connection: password and CA files, timeout, pool size, idle timeout.
func connectionSettings(c *Config, nodes string) (redisOptions, error) {
	o, err := parseRedisURL(c.RedisURL, nodes)
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
