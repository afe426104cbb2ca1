"""Generate a listing corpus for the benchmarks: realistic titles and descriptions, mostly clean (90%),
with 3% violations, evasions and traps mixed in (deterministic for a given seed)."""

from __future__ import annotations

import json
import random
from pathlib import Path

PRODUCTS = [
    "羽绒服",
    "橄榄油",
    "儿童积木",
    "保温饭盒",
    "机械键盘",
    "蜂蜜",
    "运动水杯",
    "电热水壶",
    "真丝睡衣",
    "智能手机",
    "护肤套装",
    "运动鞋",
    "双肩包",
    "蓝牙耳机",
    "办公椅",
    "床上四件套",
    "不锈钢锅",
    "洗衣液",
    "猫粮",
    "狗窝",
    "登山杖",
    "瑜伽垫",
    "台灯",
    "插线板",
    "充电宝",
    "数据线",
    "电动牙刷",
    "剃须刀",
    "吹风机",
    "卷发棒",
]
ADJ = [
    "新款",
    "加厚",
    "大容量",
    "便携",
    "家用",
    "升级版",
    "经典款",
    "轻薄",
    "防水",
    "静音",
    "原装",
    "正品",
    "包邮",
    "现货",
]
SENTENCES = [
    "采用优质材料，做工精细，经久耐用。",
    "支持七天无理由退换货，售后无忧。",
    "下单后48小时内发货，全国包邮。",
    "适合家庭日常使用，也可作为礼品赠送亲友。",
    "产品尺寸请以实物为准，颜色因显示器不同略有差异。",
    "本店所有商品均为正规渠道进货，请放心购买。",
    "如有任何问题请联系在线客服，我们会尽快为您处理。",
    "多种颜色可选，欢迎咨询。",
    "商品详情页信息仅供参考。",
    "支持货到付款，部分偏远地区除外。",
    "收到商品后请及时确认收货。",
    "外观简洁大方，细节处理到位。",
    "可机洗，不起球，不掉色。",
    "产品通过国家相关质量检测。",
    "赠品数量有限，送完即止。",
    "清洁时请使用软布擦拭。",
]
# Words that look like violations but are not (the matcher must work to clear them).
TRAPS = [
    "拒绝刷单，诚信经营，评价均来自真实买家。",
    "电动牙刷单价见详情页，买二送一。",
    "象牙白配色，百搭简约。",
    "最佳食用期请见包装。",
    "第一次购买的顾客可领取优惠券。",
    "高仿真绿植，免打理。",
    "儿童水枪，夏日戏水。",
]
VIOLATIONS = [
    "淘宝刷单 真人真号",
    "好评返现5元",
    "一比一复刻 原厂机芯",
    "高·仿大牌包包",
    "仿真枪 全金属",
    "催 情 水 无色无味",
    "祖傳秘方 一貼根治",
    "全网最低价 顶级品质",
    "内部特供 机关专供",
    "刷/单兼职 日结",
]


def make(path: Path, megabytes: float, seed: int = 7) -> int:
    rng = random.Random(seed)
    target = int(megabytes * 1024 * 1024)
    size = n = 0
    with path.open("w", encoding="utf-8") as fh:
        while size < target:
            title = f"{rng.choice(ADJ)}{rng.choice(PRODUCTS)} {rng.choice(ADJ)}"
            text = "".join(rng.choice(SENTENCES) for _ in range(rng.randint(8, 30)))
            roll = rng.random()
            if roll < 0.03:
                text += rng.choice(VIOLATIONS)
            elif roll < 0.10:
                text += rng.choice(TRAPS)
            line = (
                json.dumps({"id": f"b{n}", "title": title, "text": text}, ensure_ascii=False) + "\n"
            )
            fh.write(line)
            size += len(line.encode("utf-8"))
            n += 1
    return n
