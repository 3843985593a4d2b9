// `npm run bench`: every benchmark, one after the other, each printing its own figures. The
// data-plane, cluster-accept and ports benchmarks need root and Open vSwitch (like the OVS tests).
import { printAntiEntropyFigures, runAntiEntropyBench } from './anti-entropy.bench.js';
import { printClusterAcceptFigures, runClusterAcceptBench } from './cluster-accept.bench.js';
import { printDataplaneFigures, runDataplaneBench } from './dataplane.bench.js';
import { printDesiredFigures, runDesiredBench } from './desired.bench.js';
import { printBlackholeFigures, runBlackholeBench } from './gossip-blackhole.bench.js';
import { printMetricsFigures, runMetricsBench } from './metrics.bench.js';
import { printPortsFigures, runPortsBench } from './ports.bench.js';
import { printGossipFigures, runGossipSim } from './gossip-sim.js';
import { printRpcFigures, runRpcBench } from './rpc.bench.js';
import { printStoreResult, runStoreBench } from './store.bench.js';

console.log(`vpc-peerd benchmarks, node ${process.version}, ${new Date().toISOString()}`);
printStoreResult(await runStoreBench());
printRpcFigures(await runRpcBench());
printMetricsFigures(await runMetricsBench());
printGossipFigures([await runGossipSim(100), await runGossipSim(1000), await runGossipSim(10_000)]);
printBlackholeFigures(await runBlackholeBench());
printAntiEntropyFigures(await runAntiEntropyBench());
printDesiredFigures(await runDesiredBench());
printDataplaneFigures(await runDataplaneBench());
printClusterAcceptFigures(await runClusterAcceptBench());
printPortsFigures(await runPortsBench());
