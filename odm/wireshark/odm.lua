-- odm.lua: Wireshark / tshark post-dissector for odm's mobility types (RFC 8653).
--
-- DHCPv6 (RFC 8415 §21.17, odm DESIGN §2): an OPTION_VENDOR_OPTS (17) with odm's
-- enterprise number (default 32473) carries sub-option 1 MOBILITY_TYPE (one
-- octet) inside each IAPREFIX (26) of an IA_PD (25), and sub-option 2
-- SUPPORTED_TYPES (one octet per type) at top level.
-- Router Advertisements (RFC 4861 §4.6.2, draft-feng-dmm-ra-prefixtype §3.1):
-- the low three bits (mask 0x07) of a Prefix Information option's flag octet.
--
-- Values (odm numbering everywhere): 1 FIXED, 2 SESSION_LASTING,
-- 3 NON_PERSISTENT, 4 GRACEFUL_REPLACEMENT; 0 and 5-7 reserved.
--
-- Wireshark 4.0 has no dissector table keyed by the DHCPv6 vendor enterprise
-- number (`tshark -G dissector-tables` lists only DHCPv4's "dhcp.enterprise"),
-- so this is a post-dissector: it finds the DHCPv6 message through the
-- dhcpv6.msgtype field, walks its options itself (relays too) and reads the
-- PIO flag octets through icmpv6.opt.prefix.flag.
--
-- Load:   tshark -X lua_script:/path/to/odm.lua -V -r capture.pcap
--         (or copy it to ~/.local/lib/wireshark/plugins/); `odm pcap lua-path`
--         prints the path. Filter fields: odm.mobility_type, odm.supported_type,
--         odm.pio.mobility_type, odm.iaid, odm.prefix.

local odm = Proto("odm", "odm mobility types (RFC 8653)")

local TYPES = { [1] = "FIXED", [2] = "SESSION_LASTING", [3] = "NON_PERSISTENT",
                [4] = "GRACEFUL_REPLACEMENT" }

local function type_name(v)
  return TYPES[v] or string.format("reserved(%d)", v)
end

local pf = {
  mobility_type = ProtoField.uint8("odm.mobility_type", "Mobility type", base.DEC, TYPES),
  top_type = ProtoField.uint8("odm.top_level_type", "Mobility type (top level)", base.DEC, TYPES),
  supported = ProtoField.uint8("odm.supported_type", "Supported type", base.DEC, TYPES),
  pio_type = ProtoField.uint8("odm.pio.mobility_type", "PIO mobility type", base.DEC, TYPES, 0x07),
  iaid = ProtoField.uint32("odm.iaid", "IAID", base.DEC),
  prefix = ProtoField.ipv6("odm.prefix", "Prefix"),
  prefix_length = ProtoField.uint8("odm.prefix_length", "Prefix length", base.DEC),
  suboption = ProtoField.uint16("odm.suboption", "odm sub-option", base.DEC,
                                { [1] = "MOBILITY_TYPE", [2] = "SUPPORTED_TYPES" }),
}
odm.fields = { pf.mobility_type, pf.top_type, pf.supported, pf.pio_type, pf.iaid, pf.prefix,
               pf.prefix_length, pf.suboption }

odm.prefs.pen = Pref.uint("Enterprise number", 32473,
                          "Private Enterprise Number of odm's vendor option (RFC 5612 documentation PEN by default)")

local f_msgtype = Field.new("dhcpv6.msgtype")
local f_udp_srcport = Field.new("udp.srcport")
local f_udp_length = Field.new("udp.length")
local f_pio_flag = Field.new("icmpv6.opt.prefix.flag")
local f_pio_prefix = Field.new("icmpv6.opt.prefix")
local f_pio_length = Field.new("icmpv6.opt.prefix.length")

local function u16(tvb, off) return tvb(off, 2):uint() end

-- Walk odm's vendor sub-options in [s, e); `ctx` says where the option sits.
local function vendor(tvb, s, e, tree, ctx, names)
  if e - s < 4 or tvb(s, 4):uint() ~= odm.prefs.pen then return end
  local p = s + 4
  while p + 4 <= e do
    local code, len = u16(tvb, p), u16(tvb, p + 2)
    if p + 4 + len > e then return end
    if code == 1 and len == 1 then
      local v = tvb(p + 4, 1):uint()
      if ctx.prefix then
        local item = tree:add(pf.mobility_type, tvb(p + 4, 1))
        item:prepend_text(ctx.label .. ": ")
        item:add(pf.iaid, tvb(ctx.iaid_off, 4))
        item:add(pf.prefix, tvb(ctx.prefix_off, 16))
        item:add(pf.prefix_length, tvb(ctx.prefix_off - 1, 1))
        item:add(pf.suboption, tvb(p, 2))
      else
        tree:add(pf.top_type, tvb(p + 4, 1)):prepend_text(ctx.label .. ": ")
      end
      names[#names + 1] = type_name(v)
    elseif code == 2 then
      local st = tree:add(odm, tvb(p, 4 + len), ctx.label .. ": SUPPORTED_TYPES")
      local list = {}
      for i = 0, len - 1 do
        st:add(pf.supported, tvb(p + 4 + i, 1))
        list[#list + 1] = type_name(tvb(p + 4 + i, 1):uint())
      end
      st:append_text(" " .. table.concat(list, ","))
    end
    p = p + 4 + len
  end
end

local options

local function message(tvb, s, e, tree, names, depth)
  if depth > 8 or e - s < 4 then return end
  local mt = tvb(s, 1):uint()
  if mt == 12 or mt == 13 then
    if e - s >= 34 then options(tvb, s + 34, e, tree, { label = "relay" }, names, depth) end
  else
    options(tvb, s + 4, e, tree, { label = "message" }, names, depth)
  end
end

options = function(tvb, s, e, tree, ctx, names, depth)
  local p = s
  while p + 4 <= e do
    local code, len = u16(tvb, p), u16(tvb, p + 2)
    local ds, de = p + 4, p + 4 + len
    if de > e then return end  -- malformed: Wireshark's own dissector reports it
    if code == 25 and len >= 12 then        -- IA_PD
      options(tvb, ds + 12, de, tree,
              { label = string.format("IA_PD %d", tvb(ds, 4):uint()), iaid_off = ds },
              names, depth)
    elseif code == 26 and len >= 25 and ctx.iaid_off then  -- IAPREFIX
      local plen = tvb(ds + 8, 1):uint()
      local label = string.format("%s IAPREFIX %s/%d", ctx.label,
                                  tostring(tvb(ds + 9, 16):ipv6()), plen)
      options(tvb, ds + 25, de, tree,
              { label = label, iaid_off = ctx.iaid_off, prefix = true, prefix_off = ds + 9 },
              names, depth)
    elseif code == 17 then
      vendor(tvb, ds, de, tree, ctx, names)
    elseif code == 9 then                   -- Relay Message
      message(tvb, ds, de, tree, names, depth + 1)
    end
    p = de
  end
end

function odm.dissector(tvb, pinfo, tree)
  local names = {}
  local sub = nil
  local msgs = { f_msgtype() }
  if #msgs > 0 then
    local ports, lens = { f_udp_srcport() }, { f_udp_length() }
    if #ports > 0 and #lens > 0 then
      local s = msgs[1].offset
      local e = ports[#ports].offset + lens[#lens].value
      if e > tvb:len() then e = tvb:len() end
      sub = tree:add(odm, tvb(s, e - s))
      message(tvb, s, e, sub, names, 0)
    end
  end
  local flags = { f_pio_flag() }
  if #flags > 0 then
    local prefixes, lengths = { f_pio_prefix() }, { f_pio_length() }
    sub = sub or tree:add(odm, tvb(flags[1].offset, 1))
    for i, fi in ipairs(flags) do
      local v = bit.band(fi.value, 0x07)
      local label = "PIO"
      if prefixes[i] and lengths[i] then
        label = string.format("PIO %s/%d", tostring(prefixes[i].value), lengths[i].value)
      end
      if v ~= 0 then
        local item = sub:add(pf.pio_type, tvb(fi.offset, 1))
        item:prepend_text(label .. ": ")
        names[#names + 1] = type_name(v)
      else
        sub:add(odm, tvb(fi.offset, 1), label .. ": no mobility type")
      end
    end
  end
  if sub then
    if #names > 0 then
      sub:append_text(": " .. table.concat(names, ", "))
      pinfo.cols.info:append(" [odm " .. table.concat(names, ",") .. "]")
    else
      sub:append_text(": no mobility type")
    end
  end
end

register_postdissector(odm)
