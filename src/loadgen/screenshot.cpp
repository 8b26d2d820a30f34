// synthetic_screenshot (a phone screen drawn from a seed) and the agent's system prompt.
#include <random>

#include "loadgen/workloads.h"

namespace autoglm::loadgen {
namespace {

void fill(RgbImage& img, int64_t x0, int64_t y0, int64_t x1, int64_t y1, uint8_t r, uint8_t g,
          uint8_t b) {
    x0 = std::max<int64_t>(x0, 0), y0 = std::max<int64_t>(y0, 0);
    x1 = std::min(x1, img.width), y1 = std::min(y1, img.height);
    for (int64_t y = y0; y < y1; ++y) {
        uint8_t* row = img.row(y);
        for (int64_t x = x0; x < x1; ++x) row[x * 3] = r, row[x * 3 + 1] = g, row[x * 3 + 2] = b;
    }
}

// A line of glyph-like dark boxes, like text.
void text_line(RgbImage& img, std::mt19937_64& rng, int64_t x0, int64_t y0, int64_t x1, int64_t h,
               uint8_t shade) {
    std::uniform_int_distribution<int64_t> width(h / 3 + 1, h), gap(1, h / 3 + 1);
    for (int64_t x = x0; x < x1;) {
        const int64_t w = width(rng);
        const int64_t top = y0 + static_cast<int64_t>(rng() % static_cast<uint64_t>(h / 4 + 1));
        fill(img, x, top, std::min(x + w, x1), y0 + h, shade, shade, shade);
        x += w + gap(rng) + (rng() % 7 == 0 ? h : 0);
    }
}

}  // namespace

RgbImage synthetic_screenshot(int64_t width, int64_t height, uint64_t seed) {
    std::mt19937_64 rng(seed * 0x9E3779B97F4A7C15ull + 1);
    RgbImage img = RgbImage::zeros(width, height);
    const double s = static_cast<double>(width) / 1080.0;  // layout scale
    const auto px = [s](double v) { return static_cast<int64_t>(v * s); };
    fill(img, 0, 0, width, height, 246, 246, 248);
    fill(img, 0, 0, width, px(72), 20, 20, 24);  // status bar
    const auto hue = static_cast<uint8_t>(rng() % 200);
    fill(img, 0, px(72), width, px(240), hue, static_cast<uint8_t>(111 + hue / 4), 219);
    text_line(img, rng, px(40), px(130), px(620), px(44), 255);
    // A photo-like card: gradient plus noise (most of the PNG's bytes, as in a real screenshot).
    const int64_t card_top = px(280), card_bottom = px(280) + px(760);
    std::normal_distribution<double> noise(0, 14);
    for (int64_t y = card_top; y < std::min(card_bottom, height); ++y) {
        uint8_t* row = img.row(y);
        for (int64_t x = px(36); x < width - px(36); ++x) {
            const double fx = static_cast<double>(x) / static_cast<double>(width);
            const double fy = static_cast<double>(y - card_top) / static_cast<double>(px(760));
            const double base[3] = {90 + 120 * fx, 60 + 150 * fy, 200 - 80 * fx + hue / 4.0};
            for (int c = 0; c < 3; ++c)
                row[x * 3 + c] = static_cast<uint8_t>(std::clamp(base[c] + noise(rng), 0.0, 255.0));
        }
    }
    // List items: an icon, two text lines, a divider.
    std::uniform_int_distribution<int> color(40, 220);
    for (int64_t top = card_bottom + px(40); top + px(200) < height - px(150); top += px(210)) {
        fill(img, px(40), top + px(40), px(160), top + px(160), static_cast<uint8_t>(color(rng)),
             static_cast<uint8_t>(color(rng)), static_cast<uint8_t>(color(rng)));
        text_line(img, rng, px(200), top + px(40), width - px(60), px(40), 30);
        text_line(img, rng, px(200), top + px(110), width - px(200), px(30), 120);
        fill(img, px(36), top + px(200), width - px(36), top + px(202), 220, 220, 220);
    }
    fill(img, 0, height - px(140), width, height, 250, 250, 250);  // navigation bar
    fill(img, width / 2 - px(150), height - px(80), width / 2 + px(150), height - px(68), 60, 60,
         60);
    return img;
}

const std::string& agent_system_prompt() {
    static const std::string prompt = [] {
        std::string p =
            "今天的日期是：2026年12月3日 星期四\n"
            "你是一个手机操作智能体，根据用户的任务和当前屏幕截图，一步一步地操作手机直到完成任务。"
            "每一步先在 <think> 与 </think> "
            "之间写出你的思考：屏幕上有什么、任务进行到哪一步、下一步"
            "为什么这样做；然后在 <answer> 与 </answer> 之间输出且只输出一个动作。\n\n"
            "可用的动作：\n"
            "- do(action=\"Launch\", app=\"应用名\")：打开应用。当目标应用不在前台时优先使用。\n"
            "- do(action=\"Tap\", element=[x,y])：点击坐标，坐标为0到999的相对值，左上角为原点。\n"
            "- do(action=\"Type\", "
            "text=\"文本\")：在当前获得焦点的输入框中输入文本，会先清空原有内容。\n"
            "- do(action=\"Swipe\", start=[x1,y1], "
            "end=[x2,y2])：从起点滑动到终点，用于翻页和滚动。\n"
            "- do(action=\"Long Press\", element=[x,y])：长按坐标，用于弹出菜单或进入编辑状态。\n"
            "- do(action=\"Double Tap\", element=[x,y])：双击坐标，用于放大图片等操作。\n"
            "- do(action=\"Back\")：返回上一级界面，或关闭弹窗和键盘。\n"
            "- do(action=\"Home\")：回到桌面。\n"
            "- do(action=\"Wait\", duration=\"x seconds\")：等待页面加载，最多等待五秒。\n"
            "- do(action=\"Take_over\", "
            "message=\"原因\")：需要用户登录、验证或支付时请求人工接管。\n"
            "- finish(message=\"结果\")：任务完成或确认无法完成时结束，并说明结果。\n\n"
            "必须遵守的规则：\n";
        const char* situations[] = {"页面仍在加载或出现转圈图标",
                                    "出现广告弹窗或升级提示",
                                    "找不到目标按钮",
                                    "搜索结果与任务不符",
                                    "输入框没有获得焦点",
                                    "页面出现权限申请",
                                    "连续两次操作屏幕没有变化",
                                    "进入了错误的应用或页面",
                                    "列表很长而目标可能在下方",
                                    "任务需要确认订单或付款",
                                    "屏幕上有多个相似的选项",
                                    "键盘遮挡了需要点击的按钮",
                                    "任务要求在某个应用内搜索内容",
                                    "需要在聊天应用中发送消息",
                                    "需要在购物应用中选择商品规格",
                                    "需要修改系统设置中的开关",
                                    "页面提示网络错误或加载失败",
                                    "需要从相册中选择图片",
                                    "日期或时间选择器出现在屏幕上",
                                    "任务涉及多个应用之间的切换"};
        const char* actions[] = {
            "先等待一到两秒再观察，不要重复点击",
            "点击关闭或跳过按钮后继续原来的任务",
            "先向上或向下滑动查找，仍找不到再返回上一级换一条路径",
            "修改关键词后重新搜索，必要时使用筛选和排序",
            "先点击输入框使其获得焦点再输入文本",
            "选择仅在使用期间允许，不要拒绝必要的权限",
            "换一种操作方式，例如改用返回键或重新打开应用",
            "按返回键回到正确的位置，必要时回到桌面重新打开目标应用",
            "每次滑动大约半屏，并留意是否已经到达底部",
            "在提交之前请求用户接管，由用户确认",
            "根据任务描述中的关键信息选择最匹配的一项，并在思考中说明理由",
            "先收起键盘再点击",
            "先进入应用首页找到搜索入口，输入关键词后点击搜索按钮或键盘上的确认键",
            "先找到正确的联系人或群聊，确认名称一致后再输入并发送消息",
            "依次选择颜色、尺寸等规格，确认价格和数量后再加入购物车",
            "先确认开关当前的状态，只有状态与任务要求不一致时才点击",
            "等待几秒后点击重试，多次失败后返回并说明原因",
            "按时间顺序找到最近的图片，必要时切换到正确的相册",
            "通过上下滑动滚轮调整数值，每次调整后检查显示的结果",
            "完成当前应用内的步骤后再用 Launch 打开下一个应用，不要遗漏信息"};
        for (size_t i = 0; i < std::size(situations); ++i)
            p += std::to_string(i + 1) + ". 当" + situations[i] + "时，" + actions[i] +
                 "。执行前在思考中说明你看到的界面元素和它们的位置，执行后在下一步检查结果是否符合"
                 "预期。\n";
        p += "21. 每一步只输出一个动作，坐标必须落在目标元素的中心附近，不要点击状态栏和导航栏。\n"
             "22. 输出动作时严格使用上面的格式，字符串使用英文双引号，不要添加多余的说明文字。\n"
             "23. 如果任务已经完成，立即使用 finish 结束，并在 message 中简要说明完成的情况。\n";
        return p;
    }();
    return prompt;
}

}  // namespace autoglm::loadgen
