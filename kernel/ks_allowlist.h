/* SPDX-License-Identifier: GPL-2.0 */
/*
 * killswitch: what engage= may engage while the kernel is locked down.
 * Generated from internal/catalog/mitigations.yaml by
 * internal/catalog/allowlist.go: do not edit; regenerate with
 * KS_UPDATE_ALLOWLIST=1 go test ./internal/catalog.
 */
#ifndef _KS_ALLOWLIST_H
#define _KS_ALLOWLIST_H

struct ks_allowed {
	const char *sym;
	long retval;
};

static const struct ks_allowed ks_allowlist[] = {
	{ "__ceph_setattr", -1 },	/* CVE-2026-43408 */
	{ "__ptrace_may_access", -1 },	/* CVE-2026-46333 */
	{ "aa_dfa_unpack", -71 },	/* CVE-2026-23407 */
	{ "af_alg_sendmsg", -1 },	/* CVE-2026-31431 */
	{ "amdgpu_amdkfd_gpuvm_acquire_process_vm", -22 },	/* CVE-2026-43370 */
	{ "amdxdna_get_ubuf", -22 },	/* CVE-2026-23280 */
	{ "aml_sfc_exec_op", -5 },	/* CVE-2026-43461 */
	{ "bond_enslave", -95 },	/* CVE-2026-43456 */
	{ "bond_validate_na", 0 },	/* CVE-2026-43441 */
	{ "bpf_scx_reg", -16 },	/* CVE-2026-43438 */
	{ "br_cfm_frame_rx", 0 },	/* CVE-2026-23393 */
	{ "build_id_parse_file", -5 },	/* CVE-2026-43178 */
	{ "ceph_atomic_open", -1 },	/* CVE-2026-43408 */
	{ "ceph_handle_auth_reply", -22 },	/* CVE-2026-43407 */
	{ "ceph_monmap_decode", -22 },	/* CVE-2026-43405 */
	{ "ceph_open", -1 },	/* CVE-2026-43408 */
	{ "ceph_unlink", -1 },	/* CVE-2026-43408 */
	{ "cfg80211_rfkill_block_work", 0 },	/* CVE-2026-23336 */
	{ "debug_store", -1 },	/* CVE-2026-43377 */
	{ "dev_map_enqueue", -1 },	/* CVE-2026-23294 */
	{ "dev_map_enqueue_multi", -1 },	/* CVE-2026-23294 */
	{ "dev_xdp_enqueue", -1 },	/* CVE-2026-23294 */
	{ "emac_tx_map_frag", -12 },	/* CVE-2026-43462 */
	{ "esp6_input", -22 },	/* CVE-2026-43284 */
	{ "esp_input", -22 },	/* CVE-2026-43284 */
	{ "fore200e_init", -19 },	/* CVE-2026-43203 */
	{ "get_sequential_mnt_ns", -1 },	/* CVE-2026-43403 */
	{ "handle_generic_event", -22 },	/* CVE-2025-21947 */
	{ "iavf_ptp_do_aux_work", -1 },	/* CVE-2026-43447 */
	{ "iavf_ptp_gettimex64", -95 },	/* CVE-2026-43447 */
	{ "io_register_resize_rings", -22 },	/* CVE-2026-23275 */
	{ "io_uring_cmd_prep", -22 },	/* CVE-2026-43442 */
	{ "ioam6_fill_trace_data", 0 },	/* CVE-2026-43186 */
	{ "kaweth_set_rx_mode", 0 },	/* CVE-2026-43180 */
	{ "kfd_kmap_event_page", -22 },	/* CVE-2026-43206 */
	{ "krb5_authenticate", -22 },	/* CVE-2025-37924 */
	{ "ksmbd_auth_ntlmv2", -22 },	/* CVE-2026-23364 */
	{ "ksmbd_session_lookup_slowpath", 0 },	/* CVE-2025-22040 */
	{ "l2cap_connect", 0 },	/* CVE-2025-39889 */
	{ "l2cap_connect.constprop.0", 0 },	/* CVE-2025-39889 */
	{ "mdsc_show", -1 },	/* CVE-2026-43408 */
	{ "mlx5e_ipsec_event", 0 },	/* CVE-2026-43199 */
	{ "mlx5e_xdp_handle", 0 },	/* CVE-2026-43464, CVE-2026-43465 */
	{ "net_shaper_nl_cap_get_doit", -95 },	/* CVE-2026-43481 */
	{ "net_shaper_nl_get_doit", -95 },	/* CVE-2026-43481 */
	{ "netconsole_write_ext", 0 },	/* CVE-2026-43197 */
	{ "netdev_nl_napi_set_doit", -95 },	/* CVE-2026-43385 */
	{ "nsfs_fh_to_dentry", -1 },	/* CVE-2026-43391 */
	{ "pcrypt_aead_decrypt", -95 },	/* CVE-2026-43493 */
	{ "pcrypt_aead_encrypt", -95 },	/* CVE-2026-43493 */
	{ "pipapo_gc", 0 },	/* CVE-2026-23351 */
	{ "privcmd_ioctl", -1 },	/* CVE-2026-31788 */
	{ "process_message_header", -22 },	/* CVE-2026-43406 */
	{ "q54sj108a2_debugfs_read", -5 },	/* CVE-2026-43380 */
	{ "qla24xx_els_dcmd_iocb", -12 },	/* CVE-2026-43414 */
	{ "rawdata_open", -2 },	/* CVE-2026-23410 */
	{ "rnbd_srv_rdma_ev", -19 },	/* CVE-2026-43184 */
	{ "rpcrdma_post_recvs", 0 },	/* CVE-2026-43469 */
	{ "rxrpc_input_packet_on_conn", 1 },	/* CVE-2026-43500 */
	{ "seq_rawdata_abi_open", -2 },	/* CVE-2026-23410 */
	{ "seq_rawdata_compressed_size_open", -2 },	/* CVE-2026-23410 */
	{ "seq_rawdata_hash_open", -2 },	/* CVE-2026-23410 */
	{ "seq_rawdata_revision_open", -2 },	/* CVE-2026-23410 */
	{ "smb3_init_transform_rq", -5 },	/* CVE-2026-43362 */
	{ "smb_direct_listen_handler", -22 },	/* CVE-2026-43185 */
	{ "smb_grant_oplock", -95 },	/* CVE-2026-43378 */
	{ "smb_inherit_dacl", -22 },	/* CVE-2026-43490 */
	{ "smb_lazy_parent_lease_break_close", 0 },	/* CVE-2026-43379 */
	{ "snd_pcm_drain", -1 },	/* CVE-2026-43437 */
	{ "snd_soc_runtime_ignore_pmdown_time", 1 },	/* CVE-2026-43459 */
	{ "sps30_i2c_read_meas", -5 },	/* CVE-2026-43476 */
	{ "tcf_ife_init", -1 },	/* CVE-2026-23378 */
	{ "tcp_inbound_ao_hash", 2 },	/* CVE-2026-43384 */
	{ "tcp_v6_syn_recv_sock", 0 },	/* CVE-2026-43198 */
	{ "tcpmss_mt", 0 },	/* CVE-2026-43190 */
	{ "tls_init", -12 },	/* CVE-2025-39946 */
	{ "vmw_execbuf_process", -22 },	/* CVE-2026-23317 */
	{ "write_ext_msg", 0 },	/* CVE-2026-43197 */
	{ "xe_exec_queue_create_ioctl", -1 },	/* CVE-2026-23350 */
	{ "xe_observation_ioctl", -1 },	/* CVE-2026-23350 */
	{ "xe_vm_create_ioctl", -1 },	/* CVE-2026-23350 */
	{ "xfs_attr_set_args", -5 },	/* CVE-2026-43187 */
	{ "xt_ct_tg_check_v0", -1 },	/* CVE-2026-23391 */
	{ "xt_ct_tg_check_v1", -1 },	/* CVE-2026-23391 */
	{ "xt_ct_tg_check_v2", -1 },	/* CVE-2026-23391 */
};

#endif /* _KS_ALLOWLIST_H */
