/**
 * rtnetlink numbers, from the kernel's UAPI headers (linux/rtnetlink.h,
 * if_link.h, if_bridge.h, if_addr.h, veth.h, if.h). Only what the facade uses.
 */

// socket protocol (linux/netlink.h)
export const NETLINK_ROUTE = 0;
export const NETLINK_NETFILTER = 12;

// nfnetlink / ctnetlink (linux/netfilter/nfnetlink.h, nfnetlink_conntrack.h)
export const NFNL_SUBSYS_CTNETLINK = 1;
export const IPCTNL_MSG_CT_GET = 1;
export const IPCTNL_MSG_CT_DELETE = 2;
export const NFNETLINK_V0 = 0;
export const CTA_TUPLE_ORIG = 1;
export const CTA_ZONE = 18;
export const CTA_TUPLE_IP = 1;
export const CTA_TUPLE_PROTO = 2;
export const CTA_PROTO_NUM = 1;
export const CTA_PROTO_DST_PORT = 3;

// nlmsghdr
export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;
export const NLM_F_REQUEST = 0x1;
export const NLM_F_MULTI = 0x2;
export const NLM_F_ACK = 0x4;
export const NLM_F_DUMP_INTR = 0x10;
export const NLM_F_ROOT = 0x100;
export const NLM_F_MATCH = 0x200;
export const NLM_F_DUMP = NLM_F_ROOT | NLM_F_MATCH;
export const NLM_F_REPLACE = 0x100;
export const NLM_F_EXCL = 0x200;
export const NLM_F_CREATE = 0x400;

// nlattr
export const NLA_F_NESTED = 0x8000;
export const NLA_F_NET_BYTEORDER = 0x4000;
export const NLA_TYPE_MASK = ~(NLA_F_NESTED | NLA_F_NET_BYTEORDER) & 0xffff;

// message types
export const RTM_NEWLINK = 16;
export const RTM_DELLINK = 17;
export const RTM_GETLINK = 18;
export const RTM_SETLINK = 19;
export const RTM_NEWADDR = 20;
export const RTM_DELADDR = 21;
export const RTM_GETADDR = 22;
export const RTM_NEWROUTE = 24;
export const RTM_DELROUTE = 25;
export const RTM_GETROUTE = 26;

// address families
export const AF_UNSPEC = 0;
export const AF_INET = 2;
export const AF_BRIDGE = 7;
export const AF_INET6 = 10;

// struct sizes
export const IFINFOMSG_LEN = 16;
export const IFADDRMSG_LEN = 8;
export const RTMSG_LEN = 12;
export const RTNEXTHOP_LEN = 8;

// net_device flags (ifi_flags)
export const IFF_UP = 0x1;
export const IFF_BROADCAST = 0x2;
export const IFF_LOOPBACK = 0x8;
export const IFF_POINTOPOINT = 0x10;
export const IFF_RUNNING = 0x40;
export const IFF_NOARP = 0x80;
export const IFF_PROMISC = 0x100;
export const IFF_ALLMULTI = 0x200;
export const IFF_MASTER = 0x400;
export const IFF_SLAVE = 0x800;
export const IFF_MULTICAST = 0x1000;
export const IFF_LOWER_UP = 0x10000;
export const IFF_DORMANT = 0x20000;

// IFLA_*
export const IFLA_ADDRESS = 1;
export const IFLA_BROADCAST = 2;
export const IFLA_IFNAME = 3;
export const IFLA_MTU = 4;
export const IFLA_LINK = 5;
export const IFLA_MASTER = 10;
export const IFLA_PROTINFO = 12;
export const IFLA_TXQLEN = 13;
export const IFLA_OPERSTATE = 16;
export const IFLA_LINKINFO = 18;
export const IFLA_AF_SPEC = 26;
export const IFLA_NET_NS_FD = 28;
export const IFLA_EXT_MASK = 29;
export const IFLA_PROMISCUITY = 30;
export const IFLA_LINK_NETNSID = 37;

// IFLA_LINKINFO nest
export const IFLA_INFO_KIND = 1;
export const IFLA_INFO_DATA = 2;
export const IFLA_INFO_SLAVE_KIND = 4;
export const IFLA_INFO_SLAVE_DATA = 5;

// IFLA_INFO_DATA for kind "veth"
export const VETH_INFO_PEER = 1;

// IFLA_INFO_DATA for kind "vlan"
export const IFLA_VLAN_ID = 1;

// IFLA_INFO_DATA for kind "bridge"
export const IFLA_BR_STP_STATE = 5;
export const IFLA_BR_VLAN_FILTERING = 7;
export const IFLA_BR_VLAN_DEFAULT_PVID = 39;

// IFLA_PROTINFO (family AF_BRIDGE) and IFLA_INFO_SLAVE_DATA (slave kind "bridge")
export const IFLA_BRPORT_STATE = 1;
export const IFLA_BRPORT_PRIORITY = 2;
export const IFLA_BRPORT_COST = 3;
export const IFLA_BRPORT_MODE = 4;
export const IFLA_BRPORT_GUARD = 5;
export const IFLA_BRPORT_PROTECT = 6;
export const IFLA_BRPORT_FAST_LEAVE = 7;
export const IFLA_BRPORT_LEARNING = 8;
export const IFLA_BRPORT_UNICAST_FLOOD = 9;
export const IFLA_BRPORT_PROXYARP = 10;
export const IFLA_BRPORT_MCAST_FLOOD = 27;
export const IFLA_BRPORT_BCAST_FLOOD = 30;
export const IFLA_BRPORT_NEIGH_SUPPRESS = 32;
export const IFLA_BRPORT_ISOLATED = 33;

// IFLA_AF_SPEC (family AF_BRIDGE)
export const IFLA_BRIDGE_FLAGS = 0;
export const IFLA_BRIDGE_VLAN_INFO = 2;
export const BRIDGE_FLAGS_MASTER = 1;
export const BRIDGE_FLAGS_SELF = 2;
export const BRIDGE_VLAN_INFO_MASTER = 0x1;
export const BRIDGE_VLAN_INFO_PVID = 0x2;
export const BRIDGE_VLAN_INFO_UNTAGGED = 0x4;
export const BRIDGE_VLAN_INFO_RANGE_BEGIN = 0x8;
export const BRIDGE_VLAN_INFO_RANGE_END = 0x10;
export const BRIDGE_VLAN_INFO_BRENTRY = 0x20;

// IFLA_EXT_MASK
export const RTEXT_FILTER_BRVLAN = 0x2;

// IFA_*
export const IFA_ADDRESS = 1;
export const IFA_LOCAL = 2;
export const IFA_LABEL = 3;
export const IFA_BROADCAST = 4;
export const IFA_CACHEINFO = 6;
export const IFA_FLAGS = 8;

export const IFA_F_SECONDARY = 0x01;
export const IFA_F_NODAD = 0x02;
export const IFA_F_OPTIMISTIC = 0x04;
export const IFA_F_DADFAILED = 0x08;
export const IFA_F_HOMEADDRESS = 0x10;
export const IFA_F_DEPRECATED = 0x20;
export const IFA_F_TENTATIVE = 0x40;
export const IFA_F_PERMANENT = 0x80;
export const IFA_F_MANAGETEMPADDR = 0x100;
export const IFA_F_NOPREFIXROUTE = 0x200;
export const IFA_F_MCAUTOJOIN = 0x400;
export const IFA_F_STABLE_PRIVACY = 0x800;

// RTA_*
export const RTA_DST = 1;
export const RTA_SRC = 2;
export const RTA_OIF = 4;
export const RTA_GATEWAY = 5;
export const RTA_PRIORITY = 6;
export const RTA_PREFSRC = 7;
export const RTA_METRICS = 8;
export const RTA_MULTIPATH = 9;
export const RTA_TABLE = 15;

export const RTAX_MTU = 2;
export const RTAX_ADVMSS = 8;

export const RTM_F_CLONED = 0x200;

export const RT_TABLE_UNSPEC = 0;
export const RT_TABLE_MAIN = 254;
export const RT_TABLE_LOCAL = 255;

export const RTPROT_UNSPEC = 0;
export const RTPROT_BOOT = 3;

export const RTN_UNSPEC = 0;
export const RTN_UNICAST = 1;

export const RT_SCOPE_UNIVERSE = 0;
export const RT_SCOPE_NOWHERE = 255;

// traffic control (linux/rtnetlink.h, pkt_sched.h, pkt_cls.h, tc_act/tc_mirred.h)
export const RTM_NEWQDISC = 36;
export const RTM_DELQDISC = 37;
export const RTM_GETQDISC = 38;
export const RTM_NEWTFILTER = 44;
export const RTM_DELTFILTER = 45;
export const RTM_GETTFILTER = 46;
export const TCMSG_LEN = 20;
export const TCA_KIND = 1;
export const TCA_OPTIONS = 2;
export const TC_H_ROOT = 0xffffffff;
export const TC_H_INGRESS = 0xfffffff1;
export const TCA_TBF_PARMS = 1;
export const TCA_TBF_RATE64 = 4;
export const TCA_TBF_PRATE64 = 5;
export const TC_RATESPEC_LEN = 12;
export const TC_TBF_QOPT_LEN = 36;
export const TCA_U32_CLASSID = 1;
export const TCA_U32_SEL = 5;
export const TCA_U32_ACT = 7;
export const TC_U32_TERMINAL = 1;
export const TCA_ACT_KIND = 1;
export const TCA_ACT_OPTIONS = 2;
export const TCA_MIRRED_PARMS = 2;
export const TC_MIRRED_LEN = 28;
export const TCA_EGRESS_REDIR = 1;
export const TC_ACT_OK = 0;
export const TC_ACT_STOLEN = 4;
export const ETH_P_ALL = 0x0003;
export const IFLA_IFALIAS = 20;
