// The Chinese names the page shows for the API's codes; anything unknown is shown as its code.

export const CATEGORIES = ["咨询", "求助", "投诉", "建议", "批评", "举报", "其他"];
export const TOPICS = ["城乡建设", "环境保护", "交通运输", "教育文体", "劳动和社会保障", "商贸旅游", "卫生计生", "公共事业", "公安消防"];
export const DISTRICTS = ["芙蓉区", "天心区", "岳麓区", "开福区", "雨花区", "望城区", "长沙县", "浏阳市", "宁乡市", "高新区"];

export const SCOPES = {
  accepted: "受理",
  resident_dispute: "邻里及民间纠纷",
  emergency: "紧急警情",
  military: "军队及武警事务",
  party_discipline: "党委、人大、政协及纪检监察事项",
  litigation: "涉诉涉法事项",
  secret_privacy: "国家秘密、商业秘密及个人隐私",
  illegal_immoral: "违法或违背公序良俗的诉求",
  already_handled: "已通过其他渠道受理答复",
  not_specific: "诉求不明确",
};

export const DEADLINES = {
  emergency: "紧急（24小时）",
  simple: "简易（5个工作日）",
  help: "求助（15个工作日）",
  standard: "一般（10个工作日）",
};

export const STATUSES = {
  pending: "待派单",
  difficult: "疑难",
  dispatched: "已派单",
  replied: "已答复",
  closed: "已办结",
  refused: "不予受理",
};

export const CHANNELS = { phone: "电话", web: "网站", wechat: "微信", app: "App", letter: "信件", other: "其他" };
export const ROLES = { operator: "接线员", dispatcher: "派单员", analyst: "分析员", admin: "管理员" };
export const HEADS = { category: "类别", topic: "领域", unit: "承办单位", district: "属地", scope: "受理范围" };

export const EVENTS = {
  created: "建单",
  dispatched: "派单",
  auto_dispatched: "系统自动派单",
  auto_dispatch_failed: "未能自动派单",
  refused: "不予受理",
  scope_overridden: "推翻应急判断",
  bounced: "退单",
  difficult: "转入疑难",
  replied: "答复",
  visited: "回访",
  linked: "归入事件",
  unlinked: "拆分事件",
  incident_merged: "事件合并",
  coordinated: "协调派单",
  assist_replied: "配合单位答复",
  assist_bounced: "配合单位退出",
};

// the caller's state (never changes routing): 紧急优先 raises 求救, then 愤怒, then 焦急, after emergencies
export const STATE_RANK = { 求救: 1, 愤怒: 2, 焦急: 3 };
export const ELEMENTS = { address: "地点", time: "时间", object: "对象", ask: "诉求" };

// what each emergency number is for, shown next to the number the caller is told to dial
export const EMERGENCY_NUMBERS = { 110: "报警", 119: "火警", 120: "急救", 122: "交通事故" };

export const name = (table, code) => (code === null || code === undefined ? "—" : table[code] || String(code));
