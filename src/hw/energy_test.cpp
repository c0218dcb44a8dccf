#include "hw/energy.h"

#include <gtest/gtest.h>

#include "core/error.h"
#include "hw/hw_test_util.h"

namespace edgeopt::hw {
namespace {

using testing::TempTree;

// A powercap tree as Linux lays it out: the zones flat under the class directory, a package with
// core/uncore subzones (inside the package counter) and a dram subzone (outside it), a psys zone
// (overlaps everything), and the "intel-rapl" control-type directory itself.
void write_zone(const TempTree& t, const std::string& zone, const std::string& name, uint64_t uj, uint64_t max) {
  t.write(zone + "/name", name + "\n");
  t.write(zone + "/energy_uj", std::to_string(uj) + "\n");
  t.write(zone + "/max_energy_range_uj", std::to_string(max) + "\n");
}

EnergyMeterOptions rapl_only(const TempTree& t) {
  EnergyMeterOptions o;
  o.powercap_root = t.root();
  o.use_nvml = false;
  return o;
}

TEST(RaplDelta, Wraparound) {
  EXPECT_EQ(rapl_delta_uj(100, 250, 1000), 150u);
  EXPECT_EQ(rapl_delta_uj(900, 50, 1000), 150u);  // 100 to the wrap + 50 after it
  EXPECT_EQ(rapl_delta_uj(5, 5, 1000), 0u);
}

TEST(EnergyMeter, ReadsPackageAndDramButNotSubzonesOrPsys) {
  TempTree t("rapl");
  t.write("intel-rapl/enabled", "1\n");
  write_zone(t, "intel-rapl:0", "package-0", 1'000'000, 262'143'328'850);
  write_zone(t, "intel-rapl:0:0", "core", 500'000, 262'143'328'850);
  write_zone(t, "intel-rapl:0:1", "uncore", 100'000, 262'143'328'850);
  write_zone(t, "intel-rapl:0:2", "dram", 2'000'000, 65'712'999'613);
  write_zone(t, "intel-rapl:1", "psys", 9'000'000, 262'143'328'850);

  EnergyMeter m(rapl_only(t));
  ASSERT_TRUE(m.available()) << m.reason();
  EXPECT_EQ(m.backend(), "rapl");
  ASSERT_EQ(m.domains().size(), 2u);
  EXPECT_EQ(m.domains()[0], "intel-rapl:0 (package-0)");
  EXPECT_EQ(m.domains()[1], "intel-rapl:0:2 (dram)");

  m.start();
  write_zone(t, "intel-rapl:0", "package-0", 3'500'000, 262'143'328'850);  // +2.5 J
  write_zone(t, "intel-rapl:0:0", "core", 9'500'000, 262'143'328'850);     // ignored
  write_zone(t, "intel-rapl:0:2", "dram", 2'250'000, 65'712'999'613);      // +0.25 J
  write_zone(t, "intel-rapl:1", "psys", 99'000'000, 262'143'328'850);      // ignored
  const EnergyReading r = m.stop();
  EXPECT_NEAR(r.joules, 2.75, 1e-9);
  EXPECT_EQ(r.backend, "rapl");
  EXPECT_EQ(r.source, "measured");
  EXPECT_GE(r.seconds, 0.0);
}

TEST(EnergyMeter, CounterWrapBetweenSamples) {
  TempTree t("wrap");
  const uint64_t max = 262'143'328'850;
  write_zone(t, "intel-rapl:0", "package-0", max - 1'000'000, max);
  EnergyMeter m(rapl_only(t));
  ASSERT_TRUE(m.available()) << m.reason();
  const EnergySnapshot a = m.sample();
  write_zone(t, "intel-rapl:0", "package-0", 4'000'000, max);  // wrapped: 1 J before + 4 J after
  const EnergySnapshot b = m.sample();
  EXPECT_NEAR(m.joules_between(a, b), 5.0, 1e-9);
}

TEST(EnergyMeter, AmdZonesUseTheSameLayout) {
  TempTree t("amd");
  write_zone(t, "intel-rapl:0", "package-0", 10, 1000);  // AMD Zen packages appear as intel-rapl too
  write_zone(t, "amd-rapl:1", "package-1", 20, 1000);
  EnergyMeter m(rapl_only(t));
  ASSERT_TRUE(m.available());
  EXPECT_EQ(m.domains().size(), 2u);
}

TEST(EnergyMeter, NoPowercapIsUnavailableWithReason) {
  TempTree t("none");
  EnergyMeterOptions o;
  o.powercap_root = t.root() / "missing";
  o.nvml_library = "libedgeopt-no-such-nvml.so.1";
  EnergyMeter m(o);
  EXPECT_FALSE(m.available());
  EXPECT_EQ(m.backend(), "");
  EXPECT_NE(m.reason().find("RAPL: no "), std::string::npos) << m.reason();
  EXPECT_NE(m.reason().find("NVML: cannot load libedgeopt-no-such-nvml.so.1"), std::string::npos) << m.reason();
  try {
    m.sample();
    FAIL() << "sample() on an unavailable meter";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kFailedPrecondition);
  }
}

TEST(EnergyMeter, UnreadableCounterIsUnavailableWithReason) {
  TempTree t("unreadable");
  t.write("intel-rapl:0/name", "package-0\n");
  t.write("intel-rapl:0/max_energy_range_uj", "1000\n");  // energy_uj missing (as when root-only)
  EnergyMeter m(rapl_only(t));
  EXPECT_FALSE(m.available());
  EXPECT_NE(m.reason().find("cannot read"), std::string::npos) << m.reason();
  EXPECT_NE(m.reason().find("energy_uj"), std::string::npos) << m.reason();
}

TEST(EnergyMeter, CounterVanishingAfterStartThrows) {
  TempTree t("vanish");
  write_zone(t, "intel-rapl:0", "package-0", 10, 1000);
  EnergyMeter m(rapl_only(t));
  ASSERT_TRUE(m.available());
  m.start();
  std::filesystem::remove(t.root() / "intel-rapl:0" / "energy_uj");
  EXPECT_THROW(m.stop(), Error);
}

TEST(EnergyMeter, StopWithoutStartThrows) {
  TempTree t("nostart");
  write_zone(t, "intel-rapl:0", "package-0", 10, 1000);
  EnergyMeter m(rapl_only(t));
  EXPECT_THROW(m.stop(), Error);
}

// The real machine: whatever it has, the meter answers without throwing, and a reading works when
// it says it is available (the CI machine has no powercap; a GPU machine may have NVML).
TEST(EnergyMeter, ThisMachine) {
  EnergyMeter m;
  if (!m.available()) {
    // Unavailable is an answer too: it names both backends it tried, and reading refuses clearly.
    EXPECT_NE(m.reason().find("RAPL"), std::string::npos) << m.reason();
    EXPECT_NE(m.reason().find("NVML"), std::string::npos) << m.reason();
    EXPECT_TRUE(m.backend().empty());
    EXPECT_THROW(m.sample(), Error);
    EXPECT_THROW(m.start(), Error);
    std::printf("no energy counters here: %s\n", m.reason().c_str());
    return;
  }
  m.start();
  volatile double x = 0;
  for (int i = 0; i < 20'000'000; ++i) x = x + 1e-9 * i;
  const EnergyReading r = m.stop();
  EXPECT_GE(r.joules, 0.0);
  EXPECT_GT(r.seconds, 0.0);
  std::printf("energy meter %s: %.3f J in %.3f s (%.1f W) over %s\n", r.backend.c_str(), r.joules, r.seconds,
              r.average_watts(), m.reason().c_str());
}

}  // namespace
}  // namespace edgeopt::hw
