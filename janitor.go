package sessionjwt

import (
	"sync"
	"time"
)

// Traefik calls New on every configuration change and has no Close hook, and Traefik v2 never cancels
// the ctx it gives New. What a replaced configuration leaves behind at package level (pools of Redis
// settings no longer used, caches, slot maps, JWKS key sets) is therefore found by not being used, by one goroutine
// per Traefik process: the janitor. It also refreshes the JWKS of URLs in use.

// sweepInterval is how often the janitor looks; the bounds it keeps are each this much late at most.
const sweepInterval = 500 * time.Millisecond

var janitorOnce sync.Once

// startJanitor starts the janitor unless it runs already. The shared constructors call it.
func startJanitor() { janitorOnce.Do(launchJanitor) }

func launchJanitor() { go runJanitor() }

func runJanitor() {
	ticker := time.NewTicker(sweepInterval)
	for {
		now := <-ticker.C
		sweepPools(now)
		sweepClusters(now)
		sweepCaches(now)
		sweepJWKS(now)
	}
}
