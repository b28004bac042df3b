/**
 * Who needs the symbol catalogue, checked by the compiler (runtime/service.ts SymbolsContext). Never
 * run: `npm run typecheck` compiles it, and every line after a `@ts-expect-error` must fail to
 * compile, or the directive is itself an error. cli/service-context.test.ts compiles it as written
 * (no error) and without the directives (exactly those lines fail, each for want of `symbols`).
 * It lives in cli/ because only cli may import every stage and the CLI's service list.
 */
import type { ServiceContext, ServiceDefinition, SymbolsContext } from '../runtime/service.ts';
import { runChain } from '../runtime/stage.ts';
import { decisionService } from '../processors/decision/service.ts';
import { fusedService, startFused, startInbound } from './inbound.ts';
import { mimeService } from '../processors/mime/service.ts';
import { spamService } from '../processors/spam/service.ts';
import { runService } from './run-service.ts';
import { SERVICES, serviceNamed } from './services.ts';

const chain = { name: 'types', description: 'types', defaultMetricsPort: 0 };

/** A plain context, without the catalogue: the decision, a chain with it and the CLI's services refuse it. */
export function withoutCatalogue(ctx: ServiceContext): unknown[] {
  return [
    // @ts-expect-error the decision stage run alone
    decisionService.run(ctx),
    // @ts-expect-error its service's start (`scop run decision`)
    decisionService.start(ctx),
    // @ts-expect-error its init, as a fused chain calls it
    decisionService.stage.init?.(ctx),
    // @ts-expect-error a chain with the decision among its members
    runChain(ctx, [{ stage: spamService.stage }, { stage: decisionService.stage }], chain),
    // @ts-expect-error the fused inbound chain
    startInbound(ctx),
    // @ts-expect-error any fused unit (its members are known at run time only)
    startFused(ctx, ['mime', 'auth']),
    // @ts-expect-error a fused unit's service
    fusedService(['firewall', 'decision']).start(ctx),
    // @ts-expect-error every service the CLI composes (e2e/acl.test.ts once started them without it)
    SERVICES[0]!.start(ctx),
    // @ts-expect-error a service by name
    serviceNamed('decision').start(ctx),
  ];
}

/** The decision cannot be passed off as a service started with a plain context. */
export function asPlainService(): unknown[] {
  // @ts-expect-error a definition that needs the catalogue is not one that needs less
  const plain: ServiceDefinition = decisionService;
  return [plain];
}

/** With the catalogue everything starts; stages that weigh no symbols still take a plain context. */
export function withCatalogue(ctx: SymbolsContext, plain: ServiceContext): unknown[] {
  return [
    decisionService.run(ctx),
    runChain(ctx, [{ stage: spamService.stage }, { stage: decisionService.stage }], chain),
    startInbound(ctx),
    SERVICES[0]!.start(ctx),
    runService(mimeService),
    mimeService.run(plain),
    runChain(plain, [{ stage: mimeService.stage }], chain),
  ];
}
