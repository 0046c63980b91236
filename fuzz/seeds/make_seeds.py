#!/usr/bin/env python3
"""Writes the seed corpora under fuzz/corpus/ (run as root: the netlink seeds are real
kernel replies, read in a fresh network namespace with a few links, addresses, routes,
rules and IPVS services set up; the VRRP seeds come from /work/shared/captures and from
adverts built here with their checksums)."""
import hashlib, hmac, os, socket, struct, subprocess, sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'corpus')

def put(target, name, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), 'wb') as f:
        f.write(data)

def csum(b):
    if len(b) % 2: b += b'\0'
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return (~s) & 0xffff

def ip4(src, dst, proto, payload, ttl=255):
    h = struct.pack('!BBHHHBBH4s4s', 0x45, 0xc0, 20 + len(payload), 1, 0, ttl, proto, 0,
                    socket.inet_aton(src), socket.inet_aton(dst))
    h = h[:10] + struct.pack('!H', csum(h)) + h[12:]
    return h + payload

def vrrp_v2(vrid, prio, addrs, auth_type=0, auth=b'\0' * 8, interval=1):
    m = struct.pack('!BBBBBB', 0x21, vrid, prio, len(addrs), auth_type, interval) + b'\0\0'
    m += b''.join(socket.inet_aton(a) for a in addrs) + auth
    return m[:6] + struct.pack('!H', csum(m)) + m[8:]

def vrrp_v3_v6(vrid, prio, addrs, src, dst):
    m = struct.pack('!BBBBH', 0x31, vrid, prio, len(addrs), 100) + b'\0\0'
    m += b''.join(socket.inet_pton(socket.AF_INET6, a) for a in addrs)
    ph = socket.inet_pton(socket.AF_INET6, src) + socket.inet_pton(socket.AF_INET6, dst) + struct.pack('!I3xB', len(m), 112)
    return m[:6] + struct.pack('!H', csum(ph + m)) + m[8:]

def vrrp_ah(vrid, prio, addrs, key, seq):
    v = vrrp_v2(vrid, prio, addrs, auth_type=2)
    ah = struct.pack('!BBH4sI', 112, 4, 0, socket.inet_aton('192.168.122.2'), seq) + b'\0' * 12
    pkt = ip4('192.168.122.2', '224.0.0.18', 51, ah + v)
    z = bytearray(pkt); z[1] = 0; z[6:8] = b'\0\0'; z[10:12] = b'\0\0'  # TTL stays: multicast
    icv = hmac.new(key.ljust(8, b'\0')[:8], bytes(z), hashlib.md5).digest()[:12]
    return pkt[:32] + icv + pkt[44:]

def vrrp_seeds():
    # shape byte: 0 v2, 1 v2 PASS, 2 v2 AH, 3 v3 IPv4, 4 v3 IPv6 (+0x80: unicast); then hop limit.
    n = 0
    for f in sorted(os.listdir('/work/shared/captures')):
        d = open(os.path.join('/work/shared/captures', f), 'rb').read()
        off, seen = 24, 0
        while off < len(d) and seen < 3:
            cl = struct.unpack('<I', d[off + 8:off + 12])[0]
            frame = d[off + 16:off + 16 + cl]; off += 16 + cl
            ip = frame[14:]; ip = ip[:struct.unpack('!H', ip[2:4])[0]]
            put('vrrp_advert', '%s-%d' % (f[:-5], seen), bytes([3, 255]) + ip); seen += 1
    vips = ['192.168.122.200', '10.0.0.100']
    put('vrrp_advert', 'v2-none', bytes([0, 255]) + ip4('192.168.122.3', '224.0.0.18', 112, vrrp_v2(51, 100, vips)))
    put('vrrp_advert', 'v2-none-unicast-ttl64', bytes([0x80, 255]) + ip4('192.168.122.3', '192.168.122.2', 112, vrrp_v2(51, 100, vips), ttl=64))
    put('vrrp_advert', 'v2-pass', bytes([1, 255]) + ip4('192.168.122.3', '224.0.0.18', 112, vrrp_v2(51, 150, vips, 1, b'secret\0\0')))
    put('vrrp_advert', 'v2-pass-wrong', bytes([1, 255]) + ip4('192.168.122.3', '224.0.0.18', 112, vrrp_v2(51, 150, vips, 1, b'wrong\0\0\0')))
    put('vrrp_advert', 'v2-ah', bytes([2, 255]) + vrrp_ah(51, 100, vips, b'secret', 7))
    put('vrrp_advert', 'v2-prio0', bytes([0, 255]) + ip4('192.168.122.3', '224.0.0.18', 112, vrrp_v2(51, 0, vips[:1])))
    put('vrrp_advert', 'v3-ipv6', bytes([4, 255]) + vrrp_v3_v6(51, 100, ['fe80::1', '2001:db8::100'], 'fe80::3', 'ff02::12'))
    put('vrrp_advert', 'v3-ipv6-hop64', bytes([4, 64]) + vrrp_v3_v6(51, 100, ['fe80::1'], 'fe80::3', 'ff02::12'))

def nl_dump(proto, ty, body, extra=b'', flags=0x301):
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, proto)
    s.bind((0, 0))
    msg = body + extra
    s.send(struct.pack('=IHHII', 16 + len(msg), ty, flags, 1, 0) + msg)
    out = []
    while True:
        d = s.recv(65536)
        out.append(d)
        t = struct.unpack('=H', d[4:6])[0]
        # stop at NLMSG_DONE / NLMSG_ERROR in the datagram
        o, done = 0, False
        while o + 16 <= len(d):
            l, t = struct.unpack('=IH', d[o:o + 6])
            if t in (2, 3): done = True
            if l < 16: break
            o += (l + 3) & ~3
        if done: break
    s.close()
    return out

def sh(cmd):
    subprocess.run(cmd, shell=True, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

def netlink_seeds():
    sh('ip link set lo up; ip link add veth0 type veth peer name veth1; ip link set veth0 up;'
       'ip link add mv0 link veth0 type macvlan mode bridge;'
       'ip addr add 192.0.2.1/24 dev veth0; ip addr add 192.0.2.100/32 dev veth0 label veth0:vip;'
       'ip -6 addr add 2001:db8::1/64 dev veth0 nodad; ip route add 198.51.100.0/24 via 192.0.2.254 table 100;'
       'ip route add blackhole 203.0.113.0/24; ip rule add from 192.0.2.100 table 100 prio 100;'
       'ip -6 rule add to 2001:db8:1::/48 table 200 prio 200')
    i = 0
    for name, ty, body in [('links', 18, struct.pack('=BxHiII', 0, 0, 0, 0, 0)),
                           ('addrs', 22, struct.pack('=BBBBI', 0, 0, 0, 0, 0)),
                           ('routes4', 26, struct.pack('=BBBBBBBBI', 2, 0, 0, 0, 0, 0, 0, 0, 0)),
                           ('routes6', 26, struct.pack('=BBBBBBBBI', 10, 0, 0, 0, 0, 0, 0, 0, 0)),
                           ('rules4', 34, struct.pack('=BBBBBBBBI', 2, 0, 0, 0, 0, 0, 0, 0, 0)),
                           ('rules6', 34, struct.pack('=BBBBBBBBI', 10, 0, 0, 0, 0, 0, 0, 0, 0))]:
        for j, d in enumerate(nl_dump(0, ty, body)[:3]):
            put('rtnetlink', '%s-%d' % (name, j), d[:16384])
    # An ack and an error with an extended-ack message, as a request's reply.
    put('rtnetlink', 'ack', struct.pack('=IHHIIi', 36, 2, 0x100, 1, 1, 0) + struct.pack('=IHHII', 16, 20, 5, 1, 0))
    msg = b'Address already assigned\0'
    tlv = struct.pack('=HH', 4 + len(msg), 1) + msg
    tlv += b'\0' * (-len(tlv) % 4)
    put('rtnetlink', 'error-extack', struct.pack('=IHHIIi', 36 + len(tlv), 2, 0x200, 1, 1, -17) + struct.pack('=IHHII', 16, 20, 5, 1, 0) + tlv)

    # The controller's answer when this kernel has no IPVS (ENOENT), as read here.
    name = b'IPVS\0'
    fam = nl_dump(16, 0x10, bytes([3, 1, 0, 0]), extra=struct.pack('=HH', 4 + len(name), 2) + name + b'\0' * (-len(name) % 4), flags=0x5)
    put('ipvs_reply', 'ctrl-family-enoent', fam[0])

def ipvs_seeds():
    # This host kernel has no IPVS: the seeds are ipvsadm 1.31's own messages (the golden
    # bytes of src/ipvs/tests.rs: same attribute layout as the kernel's replies), a
    # controller NEWFAMILY reply, and replies shaped as ip_vs_genl_fill_service/_dest build them.
    data = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'tests', 'data', 'ipvs')
    for f in sorted(os.listdir(data)):
        if f.endswith('.hex'):
            put('ipvs_reply', f[:-4], bytes.fromhex(''.join(l for l in open(os.path.join(data, f)) if not l.startswith('#')).replace('\n', '').replace(' ', '')))
    a = lambda t, p: struct.pack('=HH', 4 + len(p), t) + p + b'\0' * (-len(p) % 4)
    msg = lambda ty, cmd, body, flags=2: struct.pack('=IHHII', 20 + len(body), ty, flags, 9, 0) + bytes([cmd, 1, 0, 0]) + body
    fam = a(2, b'IPVS\0') + a(1, struct.pack('=H', 0x22)) + a(3, struct.pack('=I', 1)) + a(6, a(1, a(1, struct.pack('=I', 1))))
    put('ipvs_reply', 'ctrl-newfamily', msg(0x10, 1, fam, 0))
    svc = (a(1, struct.pack('=H', 2)) + a(2, struct.pack('=H', 6)) + a(3, bytes([192, 0, 2, 10]) + b'\0' * 12) +
           a(4, struct.pack('!H', 80)) + a(6, b'wrr\0') + a(7, struct.pack('=II', 3, 0xffffffff)) + a(8, struct.pack('=I', 360)) +
           a(9, bytes([255, 255, 255, 0])) + a(0x8000 | 10, a(1, struct.pack('=I', 12345))) + a(99, b'\1\2\3'))
    svc6 = (a(1, struct.pack('=H', 10)) + a(2, struct.pack('=H', 17)) + a(3, socket.inet_pton(socket.AF_INET6, '2001:db8::100')) +
            a(4, struct.pack('!H', 53)) + a(6, b'rr\0') + a(7, struct.pack('=II', 1, 0xffffffff)) + a(8, struct.pack('=I', 0)) + a(9, struct.pack('=I', 128)))
    fw = a(1, struct.pack('=H', 2)) + a(5, struct.pack('=I', 7)) + a(6, b'lc\0') + a(7, struct.pack('=II', 1, 0xffffffff)) + a(8, struct.pack('=I', 0)) + a(9, b'\xff' * 4)
    put('ipvs_reply', 'kernel-services', msg(0x22, 1, a(0x8001, svc)) + msg(0x22, 1, a(0x8001, svc6)) + msg(0x22, 1, a(0x8001, fw)) +
        struct.pack('=IHHIIi', 20, 3, 2, 9, 0, 0))
    dest = (a(1, bytes([198, 51, 100, 7]) + b'\0' * 12) + a(2, struct.pack('!H', 8080)) + a(3, struct.pack('=I', 3)) + a(4, struct.pack('=I', 20)) +
            a(12, b'\0') + a(13, struct.pack('!H', 0)) + a(14, struct.pack('=H', 0)) + a(5, struct.pack('=I', 0)) + a(6, struct.pack('=I', 0)) +
            a(7, struct.pack('=I', 3)) + a(8, struct.pack('=I', 4)) + a(9, struct.pack('=I', 5)) + a(11, struct.pack('=H', 2)))
    put('ipvs_reply', 'kernel-dests', msg(0x22, 3, a(0x8002, dest)) + struct.pack('=IHHIIi', 20, 3, 2, 9, 0, 0))
    put('ipvs_reply', 'kernel-timeouts', msg(0x22, 14, a(4, struct.pack('=I', 900)) + a(5, struct.pack('=I', 120)) + a(6, struct.pack('=I', 300)), 0))

def nft_seeds():
    # Replies to a batch: acks (seq 2, 3) from port 0, then an error with an extended ack.
    ack = lambda seq, err=0, tlv=b'': struct.pack('=IHHIIi', 36 + len(tlv), 2, 0x100 if not tlv else 0x200, seq, 0, err) + struct.pack('=IHHII', 16, (10 << 8) | 0, 5, seq, 0) + tlv
    put('nft_reply', 'acks', struct.pack('=IHHII', 16, 0, 0, 1, 0)[:0] + ack(1) + ack(2) + ack(3))
    msg = b'Could not process rule: No such file or directory\0'
    tlv = struct.pack('=HH', 4 + len(msg), 1) + msg; tlv += b'\0' * (-len(tlv) % 4)
    put('nft_reply', 'error-extack', ack(2) + ack(3, -2, tlv))
    put('nft_reply', 'error-plain', ack(1) + ack(4, -17))
    put('nft_reply', 'stale-seq', ack(1) + struct.pack('=IHHIIi', 36, 2, 0x100, 999, 0, 0) + b'\0' * 16)
    put('nft_reply', 'done', struct.pack('=IHHIIi', 20, 3, 2, 1, 0, 0))

def text_seeds():
    for i, r in enumerate([
        b'HTTP/1.0 200 OK\r\nContent-Type: text/html\r\nContent-Length: 5\r\n\r\nhello',
        b'HTTP/1.1 404 Not Found\r\nServer: nginx\r\n\r\n<html>missing</html>',
        b'HTTP/1.1 301 Moved\r\nLocation: /x\r\ncontent-length: 0\r\n\r\n',
        b'HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nabcdef',
        b'HTTP/1.0 503 Service Unavailable\r\n\r\n',
        b'garbage without headers end\r\n',
        b'HTTP/1.0 200 OK\r\n' + b'X-Filler: yyyyyyyy\r\n' * 220 + b'\r\nbody']):  # headers past HEADER_BUF
        put('check_http', 'resp-%d' % i, bytes([1 if i % 2 else 200]) + r)
    for i, r in enumerate([b'220 mail.example.com ESMTP\r\n', b'220-first\r\n220-second\r\n220 last\r\n',
                           b'250 mail.example.com\r\n', b'554 no\r\n', b'220\n', b'hello\r\n']):
        put('check_smtp', 'reply-%d' % i, bytes([3 if i % 2 else 255]) + r)
        put('alert_smtp_reply', 'reply-%d' % i, bytes([3 if i % 2 else 255]) + r)
    put('alert_smtp_reply', 'session', bytes([7]) + b'220 mx ESMTP\r\n250-mx\r\n250-SIZE 100\r\n250 HELP\r\n250 2.1.0 Ok\r\n354 go\r\n250 queued\r\n221 bye\r\n')
    q = lambda id, flags, an: struct.pack('!HHHHHH', id, flags, 1, an, 0, 0) + b'\x07example\x03com\x00\x00\x01\x00\x01'
    a = b'\xc0\x0c\x00\x01\x00\x01\x00\x00\x0e\x10\x00\x04\xc0\x00\x02\x01'
    put('check_dns', 'answer', struct.pack('!H', 0x1234) + q(0x1234, 0x8180, 1) + a)
    put('check_dns', 'nxdomain', struct.pack('!H', 0x1234) + q(0x1234, 0x8183, 0))
    put('check_dns', 'wrong-id', struct.pack('!H', 0x1234) + q(0x4321, 0x8180, 1) + a)
    put('check_dns', 'name', b'\x00\x01www.example.com')
    # IPC: postcard-encoded messages behind their fragment header (0 = LAST, 1 = MORE);
    # 0xff 0xfe separates datagrams.
    s = lambda b: bytes([len(b)]) + b
    msgs = [b'\x00\x00\x05', b'\x00\x0f', b'\x00\x07\x01', b'\x00\x0b', b'\x00\x06\x01' + s(b'VI_1'),
            b'\x00\x09\x03\x00' + s(b'10.0.0.1:80') + s(b'192.0.2.10:80') + b'\x01',
            b'\x00\x09\x04\x01' + s(b'VI_1') + b'\x00', b'\x00\x0c\x02' + s(b'line one') + s(b'line two')]
    for i, m in enumerate(msgs):
        put('ipc', 'msg-%d' % i, m)
    put('ipc', 'fragments', b'\x01\x06\x02' + b'\xff\xfe' + b'\x01' + s(b'VI_1') + b'\xff\xfe' + b'\x00' + s(b'VI_2'))
    put('ipc', 'bad-header', b'\x07abc\xff\xfe\x00\x00\x05')
    samples = '/work/shared/corpus/keepalived-samples'
    for f in sorted(os.listdir(samples))[:12]:
        d = open(os.path.join(samples, f), 'rb').read()
        if len(d) < 6000:
            put('config_parse', f, d)

def bfd_seeds():
    """A few packets of two FRR 8.4 bfdd talking (tests/data/bfd/frr-bfdd.hex)."""
    cap = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'tests', 'data', 'bfd', 'frr-bfdd.hex')
    lines = [l for l in open(cap) if not l.startswith('#') and l.strip()]
    for name, i in [('frr-down', 0), ('frr-init', 2), ('frr-up-poll', 3), ('frr-up-final', 5), ('frr-up', 7),
                    ('frr-admin-down', -6), ('frr-down-diag3', -1)]:
        put('bfd_control', name, bytes(int(h, 16) for h in lines[i].split(': ', 1)[1].split()))

if __name__ == '__main__':
    which = sys.argv[1:] or ['vrrp', 'bfd', 'ipvs', 'text', 'nft', 'netlink']
    if 'vrrp' in which: vrrp_seeds()
    if 'bfd' in which: bfd_seeds()
    if 'ipvs' in which: ipvs_seeds()
    if 'text' in which: text_seeds()
    if 'nft' in which: nft_seeds()
    if 'netlink' in which:
        if os.environ.get('IN_NETNS') != '1':
            subprocess.run(['unshare', '-n', 'env', 'IN_NETNS=1', sys.executable, __file__, 'netlink'], check=True)
        else:
            netlink_seeds()
