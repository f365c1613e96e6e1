/*! opentracker ot.js | AGPL-3.0-or-later */
// Pasted twice, count once. Never throw into the host page.
if (!(window.ot || {}).l) try {
  const d = document, nav = navigator, loc = location
  const s = d.currentScript
  const attr = (k) => s.getAttribute('data-' + k)
  const domain = attr('domain')
  const api = attr('api') || new URL(s.src).origin + '/api/event'
  const hash = attr('hash') != null
  const queue = (window.ot || {}).q || []
  const optOut = attr('respect-dnt') != null && (nav.doNotTrack == 1 || nav.globalPrivacyControl)
  const waiting = new Map() // eid -> [body, retry timer]
  const guard = (f) => (...a) => { try { f(...a) } catch (e) {} }
  const on = (t, f, o) => addEventListener(t, guard(f), o)
  const rid = () => Array.from(crypto.getRandomValues(new Uint8Array(16)), (x) => x.toString(16).padStart(2, 0)).join('')

  // Cookieless stores nothing. An id we cannot keep is not sent.
  let vid
  if (!optOut && attr('visitor') == 'cookie') try {
    vid = localStorage.ot_vid = localStorage.ot_vid || rid()
  } catch (e) {}

  // Their errors surface, outside our flow.
  const call = (cb, x) => {
    if (cb) try { cb(x) } catch (e) { setTimeout(() => { throw e }) }
  }

  // text/plain: no preflight. keepalive: outlives the page. cb never waits on backoff.
  const post = (eid, body, tries, cb) => {
    const retry = (after) => tries < 3 && waiting.set(eid, [body, setTimeout(guard(() => {
      waiting.delete(eid)
      post(eid, body, tries + 1)
    }), Math.min(3e4, 1e3 * Math.max(after || 0, 2 ** tries) * (1 + Math.random() / 2)))])
    fetch(api, { method: 'POST', body, keepalive: true, credentials: 'omit', headers: { 'Content-Type': 'text/plain' } })
      .then((r) => {
        // 502/504: no answer from the collector. Never retry a 4xx.
        if (r.status > 501 && r.status < 505) retry(+r.headers.get('Retry-After'))
        call(cb, { status: r.status })
      }, (e) => { retry(); call(cb, { error: e }) })
  }

  const send = (n, o) => {
    o = o || {}
    if (optOut || !domain) return call(o.callback)
    const p = o.props
    // Undefined is left out. A fragment may hold a token. Retries keep the eid.
    const b = {
      n, u: hash ? loc.href : loc.href.split('#')[0], d: domain, r: d.referrer || null,
      p: p && Object.keys(p).length ? p : undefined, revenue: o.revenue, vid, eid: rid(),
    }
    if (hash) b.h = 1
    if (o.interactive === false) b.i = false
    const body = JSON.stringify(b)
    if (window.fetch) post(b.eid, body, 0, o.callback)
    else { nav.sendBeacon(api, body); call(o.callback) }
  }

  const ot = guard(send)
  ot.l = 1

  // popstate also fires for in-page anchors.
  let last
  const page = (spa) => {
    const key = loc.pathname + (hash ? loc.hash : '')
    if (!spa || key != last) ot('pageview')
    last = key
  }

  const h = history, push = h.pushState
  h.pushState = function () {
    const r = push.apply(this, arguments)
    guard(page)(1)
    return r
  }
  on('popstate', () => page(1))
  if (hash) on('hashchange', () => page(1))
  // Back from bfcache: a view, no load.
  on('pageshow', (e) => e.persisted && page())
  on('pagehide', () => waiting.forEach(([body, timer], eid) => {
    if (nav.sendBeacon(api, body)) { clearTimeout(timer); waiting.delete(eid) }
  }))

  const files = /\.(pdf|xlsx?|docx?|txt|rtf|csv|exe|key|pps|pptx?|7z|pkg|rar|gz|zip|avi|mov|mp4|mpe?g|wmv|midi?|mp3|wav|wma|dmg|iso|msi)$/i
  // Capture: before the page can stop it. A middle click is an auxclick.
  const click = (e) => {
    const a = e.button == (e.type == 'click' ? 0 : 1) && e.target.closest('a')
    const u = a && new URL(a.href)
    if (!u || !/^http/.test(u.protocol)) return
    if (files.test(u.pathname)) ot('File Download', { props: { url: u.origin + u.pathname } })
    else if (u.host != loc.host) ot('Outbound Link: Click', { props: { url: u.href } })
  }
  on('click', click, true)
  on('auxclick', click, true)

  window.ot = ot
  // Prerendered is not yet viewed.
  if (d.prerendering) d.addEventListener('prerenderingchange', guard(page))
  else page()
  queue.forEach((a) => ot(...a))
} catch (e) {}
