// LD_PRELOAD shim: answers ipvsadm's generic-netlink requests without a kernel IPVS,
// so strace shows the exact request bytes ipvsadm builds. Test tooling only.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>
#include <stdint.h>
#include <sys/socket.h>
#include <linux/netlink.h>
#include <linux/genetlink.h>
static unsigned char q[4][256]; static int qlen[4]; static int qn, qh;
static void push(const void *p, int n){ if(qn<4){memcpy(q[qn],p,n);qlen[qn]=n;qn++;} }
static void ack(struct nlmsghdr *r){ unsigned char b[36]={0}; struct nlmsghdr *h=(void*)b;
 h->nlmsg_len=36; h->nlmsg_type=NLMSG_ERROR; h->nlmsg_seq=r->nlmsg_seq; h->nlmsg_pid=r->nlmsg_pid;
 memcpy(b+20,r,16); push(b,36);}
ssize_t sendmsg(int fd,const struct msghdr*m,int fl){
 static ssize_t(*real)(int,const struct msghdr*,int); if(!real) real=dlsym(RTLD_NEXT,"sendmsg");
 struct nlmsghdr *r=m->msg_iov[0].iov_base; unsigned char *g=(unsigned char*)(r+1);
 qn=0;qh=0;
 { unsigned char *p=m->msg_iov[0].iov_base; size_t L=m->msg_iov[0].iov_len; fprintf(stderr,"REQ"); for(size_t i=0;i<L;i++) fprintf(stderr," %02x",p[i]); fprintf(stderr,"\n"); }
 if(r->nlmsg_type==GENL_ID_CTRL){ unsigned char b[28]={0}; struct nlmsghdr *h=(void*)b;
  h->nlmsg_len=28; h->nlmsg_type=GENL_ID_CTRL; h->nlmsg_seq=r->nlmsg_seq; h->nlmsg_pid=r->nlmsg_pid;
  b[16]=CTRL_CMD_NEWFAMILY; b[17]=2; b[20]=6; b[22]=CTRL_ATTR_FAMILY_ID; b[24]=0x2a; push(b,28);
 } else if(g[0]==15){ /* GET_INFO */ unsigned char b[36]={0}; struct nlmsghdr *h=(void*)b;
  h->nlmsg_len=36; h->nlmsg_type=r->nlmsg_type; h->nlmsg_seq=r->nlmsg_seq; h->nlmsg_pid=r->nlmsg_pid;
  b[16]=14; b[17]=1; b[20]=8; b[22]=1; b[24]=0x01; b[25]=0x02; b[26]=0x01; b[28]=8; b[30]=2; b[32]=0; b[33]=0x10; push(b,36);
 } else if(r->nlmsg_flags & NLM_F_DUMP){ unsigned char b[20]={0}; struct nlmsghdr *h=(void*)b;
  h->nlmsg_len=20; h->nlmsg_type=NLMSG_DONE; h->nlmsg_flags=NLM_F_MULTI; h->nlmsg_seq=r->nlmsg_seq; h->nlmsg_pid=r->nlmsg_pid; push(b,20); }
 if(r->nlmsg_flags & NLM_F_ACK) ack(r);
 size_t n=0; for(size_t i=0;i<m->msg_iovlen;i++) n+=m->msg_iov[i].iov_len;
 (void)real; (void)fd; (void)fl; return n; }
ssize_t recvmsg(int fd,struct msghdr*m,int fl){
 if(qh>=qn) return 0; int n=qlen[qh]; memcpy(m->msg_iov[0].iov_base,q[qh],n);
 if(m->msg_name){ struct sockaddr_nl *a=m->msg_name; memset(a,0,sizeof *a); a->nl_family=AF_NETLINK; m->msg_namelen=sizeof *a; }
 m->msg_controllen=0; m->msg_flags=0; if(!(fl&MSG_PEEK)) qh++; (void)fd; return n; }
